"""The artifacts browser, an artifact's page and its bytes, through the ASGI app on a real SQLite
file with artifacts uploaded through the real upload service. Nothing uploaded may run in the page."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import unquote

import anyio
import pytest

from taskloom.server.http import security_for
from taskloom.services import uploads
from taskloom.web.app import build_web
from taskloom.web.guard import WebGuard
from taskloom.web.routes.artifacts import PREVIEW_BYTES, safe_filename
from taskloom.web.sessions import Sessions
from tests.web.conftest import PORT, import_example
from tests.web.hostile import findings as hostile_findings

SANDBOX = "sandbox; default-src 'none'"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
HOSTILE_NAMES = ['"><img src=x onerror=alert(1)>.html', "<svg onload=alert(1)>.svg", 'a"; filename=evil.exe', ".."]
HOSTILE_TEXT = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "../../etc/passwd"]


def findings(html: str) -> list[str]:
    """The shared checks, and no inline <svg> either: an artifact is never drawn into the page."""
    return hostile_findings(html, also=frozenset({"svg"}))


async def put(app, data: bytes | str, name: str, media_type: str | None = None, **kw) -> str:
    source = uploads.Source(content=data) if isinstance(data, str) else uploads.Source(
        content_base64=base64.b64encode(data).decode())
    done = await uploads.upload(app, source, name=name, media_type=media_type, agent=kw.pop("agent", "bob"), **kw)
    return done.artifact.sha256


async def test_the_browser_says_how_to_add_artifacts_when_there_are_none(web):
    r = await web.get("/ui/artifacts")
    assert r.status_code == 200
    assert "No artifacts yet" in r.text


async def test_the_browser_lists_filters_and_pages(app, web):
    await import_example(app)
    md = await put(app, "# Schema\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "schema.md", links=["task:EXP-1"])
    png = await put(app, PNG, "shot.png", links=["stream:export-core"])
    page = (await web.get("/ui/artifacts")).text
    assert "schema.md" in page and "shot.png" in page and "task:EXP-1" in page
    by_task = (await web.get("/ui/artifacts", params={"task": "EXP-1"})).text
    assert md in by_task and png not in by_task
    by_type = (await web.get("/ui/artifacts", params={"type": "image/"})).text
    assert png in by_type and md not in by_type
    by_name = (await web.get("/ui/artifacts", params={"name": "*.md"})).text
    assert md in by_name and png not in by_name
    assert png in (await web.get("/ui/artifacts", params={"stream": "export-core"})).text
    assert "No artifact matches" in (await web.get("/ui/artifacts", params={"name": "nothing-like-it"})).text
    unknown = await web.get("/ui/artifacts", params={"task": "NOPE-9"})
    assert unknown.status_code == 404 and "NOPE-9" in unknown.text

    for i in range(50):
        await put(app, f"note {i}", f"note-{i:02}.txt")
    first = (await web.get("/ui/artifacts")).text
    assert "1–50 of 52" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = (await web.get("/ui/artifacts", params={"offset": "50"})).text
    assert "51–52 of 52" in second and 'rel="prev"' in second and 'rel="next"' not in second
    notes = (await web.get("/ui/artifacts", params={"name": "note"})).text
    assert "1–50 of 50" in notes and 'rel="next"' not in notes
    texts = (await web.get("/ui/artifacts", params={"type": "text/"})).text
    assert "1–50 of 51" in texts and 'href="/ui/artifacts?type=text%2F&amp;offset=50" rel="next"' in texts


async def test_text_json_yaml_and_markdown_are_previewed_escaped(app, web):
    text = await put(app, "line one\n<b>not bold</b>\n", "out.log")
    data = await put(app, '{"a": "<script>alert(1)</script>"}', "data.json")
    yml = await put(app, "key: <i>value</i>\n", "conf.yaml")
    md = await put(app, "# Title\n\n<script>alert(1)</script> **strong**\n", "notes.md")
    for sha, shown in ((text, "&lt;b&gt;not bold&lt;/b&gt;"), (data, "&lt;script&gt;"), (yml, "&lt;i&gt;value")):
        r = await web.get(f"/ui/artifacts/{sha}")
        assert r.status_code == 200
        assert '<pre class="artifact-text">' in r.text and shown in r.text
        assert findings(r.text) == []
    r = await web.get(f"/ui/artifacts/{md}")
    assert '<div class="md">' in r.text and "Title" in r.text and findings(r.text) == []


async def test_a_10_mb_text_artifact_previews_at_most_256_kib_and_downloads_whole(app, web):
    line = "0123456789abcdef" * 4 + "\n"
    big = line * (10 * 1024 * 1024 // len(line))
    sha = await put(app, big, "huge.log")
    r = await web.get(f"/ui/artifacts/{sha}")
    assert r.status_code == 200
    pre = r.text.split('<pre class="artifact-text">', 1)[1].split("</pre>", 1)[0]
    assert 0 < len(pre.encode()) <= PREVIEW_BYTES
    assert "Showing the first 256.0 KiB" in r.text
    d = await web.get(f"/ui/artifacts/{sha}/download")
    assert d.status_code == 200 and d.headers["content-type"] == "application/octet-stream"
    assert hashlib.sha256(d.content).hexdigest() == sha


async def test_a_download_is_streamed_in_chunks_not_read_whole(app):
    sha = await put(app, "x" * (4 * 1024 * 1024), "big.txt")
    asgi = build_web(app, WebGuard(security_for("127.0.0.1", PORT), None, Sessions(app.clock)))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": f"/ui/artifacts/{sha}/download", "raw_path": f"/ui/artifacts/{sha}/download".encode(),
        "query_string": b"", "root_path": "", "headers": [(b"host", f"127.0.0.1:{PORT}".encode())],
        "server": ("127.0.0.1", PORT), "client": ("127.0.0.1", 50000),
    }
    asked = anyio.Event()
    chunks: list[int] = []

    async def receive() -> dict:
        if not asked.is_set():
            asked.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()  # the client stays connected
        raise AssertionError

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            chunks.append(len(message.get("body", b"")))

    with anyio.fail_after(10):
        await asgi(scope, receive, send)
    assert sum(chunks) == 4 * 1024 * 1024
    assert len(chunks) > 4 and max(chunks) <= 1024 * 1024


@pytest.mark.parametrize(
    ("data", "name", "media_type"),
    [
        ("<html><script>alert(1)</script></html>", "page.html", None),
        ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>', "pic.svg", None),
        ("<html xmlns='http://www.w3.org/1999/xhtml'><script>alert(3)</script></html>", "x.xhtml",
         "application/xhtml+xml"),
        ("<p onclick=alert(4)>hi</p>", "labelled.txt", "TEXT/HTML; charset=utf-8"),
        (b"\x00\x01binary", "blob.bin", "application/x-unknown-thing"),
    ],
)
async def test_html_svg_xhtml_and_unknown_types_are_never_previewed_only_downloaded(app, web, data, name, media_type):
    sha = await put(app, data, name, media_type)
    page = await web.get(f"/ui/artifacts/{sha}")
    assert page.status_code == 200
    assert "No preview for" in page.text and f"/ui/artifacts/{sha}/raw" not in page.text
    assert "artifact-text" not in page.text and findings(page.text) == []
    for route in ("raw", "download"):
        r = await web.get(f"/ui/artifacts/{sha}/{route}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["content-security-policy"] == SANDBOX
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_an_image_is_shown_and_served_with_its_own_type_nosniff_and_the_sandbox(app, web):
    sha = await put(app, PNG, "shot.png")
    page = await web.get(f"/ui/artifacts/{sha}")
    assert f'<img class="artifact-image" src="/ui/artifacts/{sha}/raw"' in page.text
    r = await web.get(f"/ui/artifacts/{sha}/raw")
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == SANDBOX
    assert "content-disposition" not in r.headers
    text = await put(app, "<script>alert(1)</script>", "a.txt")
    t = await web.get(f"/ui/artifacts/{text}/raw")
    assert t.headers["content-type"] == "text/plain; charset=utf-8" and t.headers["content-security-policy"] == SANDBOX


async def test_unknown_or_malformed_artifacts_and_missing_bytes_are_404_pages(app, web):
    for path in ("/ui/artifacts/" + "0" * 64, "/ui/artifacts/" + "0" * 64 + "/raw",
                 "/ui/artifacts/" + "0" * 64 + "/download", "/ui/artifacts/not-a-sha", "/ui/artifacts/..%2f..%2fetc"):
        r = await web.get(path)
        assert r.status_code == 404, path
        assert "Traceback" not in r.text
    sha = await put(app, "gone soon", "gone.txt")
    app.blobs.path(sha).unlink()
    for route in ("", "/raw", "/download"):
        r = await web.get(f"/ui/artifacts/{sha}{route}")
        assert r.status_code == 404 and "missing from disk" in r.text


async def test_hostile_names_descriptions_and_uploaders_are_escaped_and_sanitised(app, web):
    await import_example(app)
    shas = []
    for i, name in enumerate(HOSTILE_NAMES):
        text = HOSTILE_TEXT[i % len(HOSTILE_TEXT)]
        shas.append(await put(app, f"body {i}", name, "text/plain", description=text, agent=HOSTILE_TEXT[i % 2],
                              links=["task:EXP-1"]))
    pages = [await web.get("/ui/artifacts")]
    pages += [await web.get(f"/ui/artifacts/{sha}") for sha in shas]
    for r in pages:
        assert r.status_code == 200
        assert findings(r.text) == [], r.url
        assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    for sha, name in zip(shas, HOSTILE_NAMES, strict=True):
        header = (await web.get(f"/ui/artifacts/{sha}/download")).headers["content-disposition"]
        assert header.count('"') == 2 and ";" not in header.split("filename*=", 1)[1]
        given = unquote(header.split("filename*=UTF-8''", 1)[1])
        assert given == safe_filename(name) and "/" not in given and not given.startswith(".")
    assert 'filename="artifact"' in (await web.get(f"/ui/artifacts/{shas[-1]}/download")).headers["content-disposition"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\boot.ini", "boot.ini"),
        ("report\r\nSet-Cookie: x=1.txt", "reportSet-Cookie: x=1.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ('a"; filename="b.exe', "a filename=b.exe"),
        ("..", "artifact"),
        (".bashrc", "bashrc"),
        ("résumé 2026.pdf", "résumé 2026.pdf"),
    ],
)
def test_a_download_name_loses_directories_control_characters_and_quotes(name, expected):
    assert safe_filename(name) == expected


async def test_a_foreign_host_gets_421_on_every_artifact_route(app, web):
    sha = await put(app, PNG, "shot.png")
    for path in ("/ui/artifacts", f"/ui/artifacts/{sha}", f"/ui/artifacts/{sha}/raw", f"/ui/artifacts/{sha}/download"):
        r = await web.get(path, headers={"host": "evil.example"})
        assert r.status_code == 421, path


async def test_the_browsers_list_is_a_live_region_that_keeps_its_filters(app, web):
    await put(app, "one", "a.md", "text/markdown")
    page = (await web.get("/ui/artifacts?type=text/markdown")).text
    assert 'hx-get="/ui/artifacts/p/list?type=text%2Fmarkdown' in page and "sse:artifacts" in page
    await put(app, "two", "b.md", "text/markdown")
    listed = (await web.get("/ui/artifacts/p/list?type=text/markdown")).text
    assert "a.md" in listed and "b.md" in listed and "<html" not in listed
