"""The artifacts browser, one artifact's page, and its bytes. Nothing an agent uploaded ever runs
in the dashboard's origin.

- Text, JSON and YAML are previewed as escaped text, markdown through the `md` filter, and PNG,
  JPEG, GIF and WebP images as <img>: only these, the first PREVIEW_BYTES of them.
- /raw serves images with their own type and text as text/plain, both with nosniff and a
  sandbox CSP, so even a mislabelled file cannot script; HTML, SVG, XHTML and every other type
  go out as an octet-stream attachment, which a browser saves and never renders.
- /download is always an octet-stream attachment with a sanitised file name.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from taskloom.domain.artifacts import is_text, sha_of
from taskloom.errors import InvalidInput, NotFound
from taskloom.models import Artifact
from taskloom.services import artifacts
from taskloom.web.app import View, page

PAGE = 50
PREVIEW_BYTES = 256 * 1024
IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Types a browser would run script in: not even their escaped text is offered as a preview.
ACTIVE = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml"})
MARKDOWN = frozenset({"text/markdown", "text/x-markdown"})
FILTERS = ("task", "stream", "sprint", "name", "type")
MAX_FILTER = 200  # characters in one filter box
SANDBOX = "sandbox; default-src 'none'"
BYTES_HEADERS = {
    "content-security-policy": SANDBOX,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def kind(media_type: str) -> str:
    """How the dashboard shows an artifact: image, markdown, text, or none (download only)."""
    base = media_type.split(";")[0].strip().lower()
    if base in IMAGES:
        return "image"
    if base in ACTIVE:
        return "none"
    if base in MARKDOWN:
        return "markdown"
    return "text" if is_text(base) else "none"


def safe_filename(name: str) -> str:
    """A download name that is only a name: no directories, no control or bidi characters, no
    leading dots (a hidden file, or '..')."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in "\"';")
    name = name.strip().lstrip(".").strip()
    return name[:200] or "artifact"


def disposition(name: str) -> str:
    clean = safe_filename(name)
    ascii_name = "".join(c if " " <= c < "\x7f" else "_" for c in clean)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _sha(request: Request) -> str:
    try:
        return sha_of(request.path_params["sha"])
    except InvalidInput:
        raise NotFound("No artifact with that address.", hint="The artifacts page lists them.") from None


async def _meta(request: Request, view: View) -> Artifact:
    return await view.web.app.read(artifacts.get, _sha(request))


async def _blob(view: View, meta: Artifact) -> Path:
    """A local file with the bytes (PostgreSQL: a verified copy), for a FileResponse's ranges."""
    try:
        return await anyio.to_thread.run_sync(view.web.app.blobs.local_path, meta.sha256)
    except FileNotFoundError:
        raise _missing(meta) from None


def _missing(meta: Artifact) -> NotFound:
    return NotFound(f"The bytes of {meta.name!r} are missing from disk.",
                    hint="Upload the file again; the data directory was changed outside taskloom.")


def _filters(request: Request) -> dict[str, str]:
    given = {k: request.query_params.get(k, "").strip()[:MAX_FILTER] for k in FILTERS}
    return {k: v for k, v in given.items() if v}


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0


@page
async def browser(request: Request, view: View) -> Response:
    return await view.web.pages.render("artifacts.html", await _browse(request, view))


@page
async def browser_list(request: Request, view: View) -> Response:
    """The list alone, re-fetched when an artifact is uploaded, linked or collected."""
    return await view.web.pages.block("artifacts.html", "list", await _browse(request, view))


async def _browse(request: Request, view: View) -> dict[str, Any]:
    filters, offset = _filters(request), _offset(request)
    listing = await view.web.app.read(
        artifacts.listing, task=filters.get("task"), stream=filters.get("stream"), sprint=filters.get("sprint"),
        name=filters.get("name"), media_type=filters.get("type"), limit=PAGE, offset=offset,
    )

    def at(where: int | None) -> str | None:
        return None if where is None else "?" + urlencode({**filters, "offset": where})

    return view.context(
        listing=listing, filters=filters, offset=offset, PAGE=PAGE, query=at(offset) if filters or offset else "",
        next_page=at(listing.next_offset), prev_page=at(max(0, offset - PAGE)) if offset else None,
    )


@page
async def artifact_page(request: Request, view: View) -> Response:
    meta = await _meta(request, view)
    shown = kind(meta.media_type)
    text: str | None = None
    if shown in ("text", "markdown"):
        try:
            data = await anyio.to_thread.run_sync(view.web.app.blobs.read, meta.sha256, PREVIEW_BYTES)
        except FileNotFoundError:
            raise _missing(meta) from None
        text = data.decode("utf-8", "replace")  # a cut may split a character: not an error
    context = view.context(a=meta, kind=shown, text=text, cut=meta.size > PREVIEW_BYTES, PREVIEW_BYTES=PREVIEW_BYTES)
    return await view.web.pages.render("artifact.html", context)


@page
async def raw(request: Request, view: View) -> Response:
    meta = await _meta(request, view)
    shown = kind(meta.media_type)
    if shown == "image":
        media, headers = meta.media_type.split(";")[0].strip().lower(), {}
    elif shown in ("text", "markdown"):
        media, headers = "text/plain; charset=utf-8", {}
    else:
        media, headers = "application/octet-stream", {"content-disposition": disposition(meta.name)}
    return FileResponse(await _blob(view, meta), media_type=media, headers={**BYTES_HEADERS, **headers})


@page
async def download(request: Request, view: View) -> Response:
    meta = await _meta(request, view)
    headers = {**BYTES_HEADERS, "content-disposition": disposition(meta.name)}
    return FileResponse(await _blob(view, meta), media_type="application/octet-stream", headers=headers)


ROUTES = [
    Route("/artifacts", browser, methods=["GET"], name="artifacts"),
    Route("/artifacts/p/list", browser_list, methods=["GET"]),
    Route("/artifacts/{sha}", artifact_page, methods=["GET"]),
    Route("/artifacts/{sha}/raw", raw, methods=["GET"]),
    Route("/artifacts/{sha}/download", download, methods=["GET"]),
]
