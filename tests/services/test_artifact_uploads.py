"""What an upload accepts: paths confined to the roots, the one source, media types, names.

Paths are real files, symlinks, FIFOs and devices under tmp_path; the roots are given through
Settings exactly as `--root` gives them. Every refusal is also checked to leave nothing behind.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.errors import TaskloomError
from taskloom.services import artifacts, uploads
from taskloom.services.app import Taskloom
from taskloom.store.blobs import BlobStore, Stored

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "notes.txt").write_text("inside\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    return tmp_path / "root"


@pytest.fixture
async def rooted(settings: Settings, clock: ManualClock, root: Path) -> AsyncIterator[Taskloom]:
    app = await Taskloom.open(dataclasses.replace(settings, artifact_roots=(root,)), clock)
    try:
        yield app
    finally:
        await app.close()


def row_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
    finally:
        conn.close()


def stored_state(app: Taskloom) -> tuple[list[Path], list[Path], int]:
    root = app.blobs.root
    return sorted(root.glob("??/*")), sorted(root.glob("tmp/*")), row_count(app.settings.db_path)


async def refused(app: Taskloom, code: str, source: uploads.Source, name: str = "f.txt", **kw) -> str:
    before = stored_state(app)
    with anyio.fail_after(5):  # a FIFO or device read would block or never end
        with pytest.raises(TaskloomError) as caught:
            await uploads.upload(app, source, name=name, **kw)
    assert caught.value.code == code, caught.value
    assert stored_state(app) == before  # no blob, temp file or row added
    return str(caught.value)


async def stored_from(app: Taskloom, path: str) -> bytes:
    result = await uploads.upload(app, uploads.Source(path=path), name="f.txt")
    return app.blobs.read(result.artifact.sha256)


# ---------------------------------------------------------------- paths inside the roots


async def test_a_relative_path_is_read_from_the_first_root(rooted):
    assert await stored_from(rooted, "notes.txt") == b"inside\n"


async def test_an_absolute_path_inside_a_root_is_read(rooted, root):
    assert await stored_from(rooted, str(root / "notes.txt")) == b"inside\n"


async def test_dot_dot_that_stays_inside_the_root_is_fine(rooted):
    assert await stored_from(rooted, "sub/../notes.txt") == b"inside\n"


async def test_a_symlink_inside_the_root_to_a_file_inside_the_root_is_followed(rooted, root):
    (root / "sub" / "link.txt").symlink_to(root / "notes.txt")
    assert await stored_from(rooted, "sub/link.txt") == b"inside\n"


async def test_any_of_several_roots_may_hold_the_file(settings, clock, root, tmp_path):
    app = await Taskloom.open(dataclasses.replace(settings, artifact_roots=(root, tmp_path / "outside")), clock)
    try:
        assert await stored_from(app, str(tmp_path / "outside" / "secret.txt")) == b"secret\n"
    finally:
        await app.close()


# ---------------------------------------------------------------- escapes and non-files


async def test_dot_dot_out_of_the_root_is_refused(rooted):
    message = await refused(rooted, "invalid_input", uploads.Source(path="../outside/secret.txt"))
    assert "outside the directories" in message


async def test_an_absolute_path_outside_the_roots_is_refused(rooted, tmp_path):
    await refused(rooted, "invalid_input", uploads.Source(path=str(tmp_path / "outside" / "secret.txt")))
    await refused(rooted, "invalid_input", uploads.Source(path="/etc/passwd"))


async def test_a_symlink_inside_the_root_pointing_outside_is_refused(rooted, root, tmp_path):
    (root / "escape.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    await refused(rooted, "invalid_input", uploads.Source(path="escape.txt"))


async def test_a_symlinked_directory_inside_the_root_pointing_outside_is_refused(rooted, root, tmp_path):
    (root / "door").symlink_to(tmp_path / "outside", target_is_directory=True)
    await refused(rooted, "invalid_input", uploads.Source(path="door/secret.txt"))
    await refused(rooted, "invalid_input", uploads.Source(path=str(root / "door" / "secret.txt")))


async def test_a_fifo_inside_the_root_is_refused_without_blocking(rooted, root):
    os.mkfifo(root / "pipe")
    message = await refused(rooted, "invalid_input", uploads.Source(path="pipe"))
    assert "not a regular file" in message


async def test_a_directory_inside_the_root_is_refused(rooted):
    await refused(rooted, "invalid_input", uploads.Source(path="sub"))


async def test_dev_zero_is_refused_even_when_the_root_is_slash(settings, clock):
    app = await Taskloom.open(dataclasses.replace(settings, artifact_roots=(Path("/"),)), clock)
    try:
        message = await refused(app, "invalid_input", uploads.Source(path="/dev/zero"))
        assert "not a regular file" in message
    finally:
        await app.close()


async def test_dev_zero_is_outside_ordinary_roots(rooted):
    await refused(rooted, "invalid_input", uploads.Source(path="/dev/zero"))


async def test_a_path_that_does_not_exist_is_not_found(rooted):
    await refused(rooted, "not_found", uploads.Source(path="missing.txt"))
    await refused(rooted, "not_found", uploads.Source(path="sub/missing/deeper.txt"))


async def test_a_dangling_symlink_and_a_symlink_loop_are_not_found(rooted, root):
    (root / "dangling").symlink_to(root / "gone")
    (root / "loop").symlink_to(root / "loop")
    await refused(rooted, "not_found", uploads.Source(path="dangling"))
    await refused(rooted, "not_found", uploads.Source(path="loop"))


async def test_a_path_with_nul_or_an_empty_path_is_invalid(rooted):
    for path in ["notes.txt\x00.png", "\x00", ""]:
        await refused(rooted, "invalid_input", uploads.Source(path=path))


async def test_a_server_reached_over_http_without_roots_refuses_every_path(settings, clock, root):
    app = await Taskloom.open(dataclasses.replace(settings, transport="http"), clock)
    try:
        message = await refused(app, "invalid_input", uploads.Source(path=str(root / "notes.txt")))
        assert "--root" in message
    finally:
        await app.close()


async def test_a_local_server_without_configured_roots_reads_only_under_its_working_directory(
    app, root, monkeypatch
):
    monkeypatch.chdir(root)
    assert uploads.readable_roots(app) == (root.resolve(),)
    assert await stored_from(app, "notes.txt") == b"inside\n"
    await refused(app, "invalid_input", uploads.Source(path="../outside/secret.txt"))


async def test_a_file_over_the_size_limit_is_too_large_before_any_byte_is_copied(settings, clock, root):
    (root / "big.bin").write_bytes(b"z" * 101)
    app = await Taskloom.open(dataclasses.replace(settings, artifact_roots=(root,), artifact_max_bytes=100), clock)
    try:
        await refused(app, "too_large", uploads.Source(path="big.bin"))
    finally:
        await app.close()


# ---------------------------------------------------------------- exactly one source, well formed


async def test_exactly_one_source_must_be_given(app):
    for source in [uploads.Source(), uploads.Source(content="a", content_base64="YQ=="), uploads.Source("a", path="x")]:
        await refused(app, "invalid_input", source)


async def test_content_base64_that_is_not_base64_is_invalid(app):
    for bad in ["not base64!", "YQ", "YQ==YQ=="]:
        await refused(app, "invalid_input", uploads.Source(content_base64=bad))


async def test_text_content_with_an_unpaired_surrogate_is_invalid(app):
    await refused(app, "invalid_input", uploads.Source(content="half \ud800 a pair"))


async def test_a_link_to_a_task_that_does_not_exist_stores_nothing(app):
    await refused(app, "not_found", uploads.Source(content="x"), links=["task:T-99"])
    await refused(app, "invalid_input", uploads.Source(content="x"), links=["nonsense"])


# ---------------------------------------------------------------- media types


GUESSES = [  # (name, bytes, the media type expected)
    ("report.md", b"# hi", "text/markdown"),
    ("REPORT.MD", b"# hi", "text/markdown"),
    ("config.yaml", b"a: 1", "application/yaml"),
    ("fix.patch", b"--- a\n+++ b\n", "text/x-diff"),
    ("data.json", b"{}", "application/json"),
    ("page.html", b"<p>", "text/html"),
    ("shot.png", b"anything", "image/png"),  # the extension wins over the bytes
    ("shot", PNG, "image/png"),
    ("photo", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    ("anim", b"GIF89a\x01\x00", "image/gif"),
    ("doc", b"%PDF-1.7\n", "application/pdf"),
    ("bundle", b"PK\x03\x04\x14\x00", "application/zip"),
    ("logs", b"\x1f\x8b\x08\x00", "application/gzip"),
    ("notes", "plain words, ünïcödé ✓\n".encode(), "text/plain"),
    ("weird.zz9", b"still text", "text/plain"),
    ("blob", b"text\x00with a NUL", "application/octet-stream"),
    ("latin1", "caf\xe9 au lait".encode("latin-1"), "application/octet-stream"),
    ("日本語.md", b"# \xe6\x97\xa5", "text/markdown"),
]


async def test_the_media_type_is_guessed_from_the_extension_then_the_magic_bytes_then_a_text_sniff(app):
    guessed = {}
    for name, data, _ in GUESSES:
        result = await uploads.upload(app, uploads.Source(content_base64=base64.b64encode(data).decode()), name=name)
        guessed[name] = result.artifact.media_type
    assert guessed == {name: expected for name, _, expected in GUESSES}


async def test_a_multi_byte_character_cut_by_the_sniffed_head_still_counts_as_text(app):
    data = b"a" * 8191 + "é".encode() + b" and more"  # the head is the first 8,192 bytes
    result = await uploads.upload(app, uploads.Source(content=data.decode()), name="long-notes")
    assert result.artifact.media_type == "text/plain"


async def test_an_explicit_media_type_wins_over_any_guess_and_is_lower_cased(app):
    result = await uploads.upload(app, uploads.Source(content="x"), name="x.png", media_type="Text/Plain")
    assert result.artifact.media_type == "text/plain"
    params = await uploads.upload(app, uploads.Source(content="y"), name="y", media_type="text/csv; charset=utf-8")
    assert params.artifact.media_type == "text/csv; charset=utf-8"


async def test_an_invalid_media_type_is_invalid_input_and_stores_nothing(app):
    for bad in ["textplain", "text/", "/plain", "text /plain", "te xt/plain", "a/" + "b" * 200]:
        await refused(app, "invalid_input", uploads.Source(content="x"), media_type=bad)


# ---------------------------------------------------------------- names


async def test_unicode_names_are_kept_as_given(app):
    for name in ["📊 quarterly report 🚀.md", "تقرير الاختبار.txt", "דוח.log", "résumé (final) v2.pdf", "a" * 255, "🧪" * 255]:
        result = await uploads.upload(app, uploads.Source(content=name), name=name)
        assert result.artifact.name == name
        assert (await app.read(artifacts.get, result.artifact.sha256)).name == name


async def test_names_are_stored_nfc_normalised_and_stripped_so_both_spellings_find_the_artifact(app):
    decomposed = "  cafe\u0301 notes.md "
    result = await uploads.upload(app, uploads.Source(content="menu"), name=decomposed)
    assert result.artifact.name == "caf\u00e9 notes.md"
    for query in ("caf\u00e9", "*caf\u00e9*.md"):
        page = await app.read(artifacts.listing, name=query)
        assert [a.name for a in page.artifacts] == ["caf\u00e9 notes.md"]


async def test_a_name_filter_matches_percent_underscore_and_brackets_as_themselves(app):
    names = ["100%.txt", "1000.txt", "a_b.md", "axb.md", "shot [2].png", "shot 2.png", "what?.txt"]
    for name in names:
        await uploads.upload(app, uploads.Source(content=name), name=name)

    async def found(query: str) -> list[str]:
        return sorted(a.name for a in (await app.read(artifacts.listing, name=query)).artifacts)

    assert await found("%") == ["100%.txt"]
    assert await found("_") == ["a_b.md"]
    assert await found("[2]") == ["shot [2].png"]
    assert await found("SHOT [2]*") == ["shot [2].png"]
    assert await found("*.MD") == ["a_b.md", "axb.md"]
    assert await found("what?.txt") == ["what?.txt"]
    assert await found("?????.md") == []
    assert await found("???.md") == ["a_b.md", "axb.md"]


async def test_names_with_separators_control_characters_or_too_long_are_refused(app):
    for name in ["", "   ", "dir/file.txt", "..\\evil.txt", "line\nbreak", "tab\there", "nul\x00", "del\x7f", "a" * 256]:
        await refused(app, "invalid_input", uploads.Source(content="x"), name=name)


def test_a_directory_swapped_for_a_symlink_mid_open_never_lets_an_outside_file_be_read(tmp_path):
    """A race, run for a second: another thread keeps replacing a directory inside the root with
    a symlink to a directory outside it. Every open either reads the inside file or is refused
    with one of our errors; none reads the outside file, and none crashes."""
    import threading
    import time as clock

    root = (tmp_path / "root").resolve()
    (root / "real").mkdir(parents=True)
    (root / "real" / "f.txt").write_text("inside")
    outside = (tmp_path / "outside").resolve()
    outside.mkdir()
    (outside / "f.txt").write_text("SECRET")
    stop = threading.Event()

    def swap() -> None:
        real, parked, link = root / "real", root / "parked", root / "real.link"
        while not stop.is_set():
            os.rename(real, parked)
            link.symlink_to(outside)
            os.rename(link, real)
            os.unlink(real)
            os.rename(parked, real)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    read_inside = refused = 0
    try:
        deadline = clock.monotonic() + 1.0
        while clock.monotonic() < deadline:
            try:
                fd, _ = uploads.open_within("real/f.txt", (root,))
            except TaskloomError:
                refused += 1
                continue
            with os.fdopen(fd, "rb") as f:
                assert f.read() == b"inside"
            read_inside += 1
    finally:
        stop.set()
        swapper.join()
    assert read_inside and refused  # the race really ran both ways


class LoopWatching(BlobStore):
    """The real disk store, noting whether each blob call ran on the event loop's thread."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.on_loop: list[str] = []

    def known(self, sha256: str, size: int) -> Stored | None:
        if threading.current_thread() is threading.main_thread():
            self.on_loop.append("known")
        return super().known(sha256, size)


async def test_looking_up_bytes_already_stored_runs_off_the_event_loop(app):
    # With PostgreSQL the lookup is a network round trip: on the loop it would stall every client.
    app.blobs = LoopWatching(app.blobs.root)
    await uploads.upload(app, uploads.Source(content="seen twice"), name="a.txt")
    again = await uploads.upload(app, uploads.Source(content="seen twice"), name="b.txt")
    assert again.new is False and app.blobs.on_loop == []
