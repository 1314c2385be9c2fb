"""Getting bytes in and out of the blob store: upload sources, path confinement, reads.

Uploads stream in 1 MiB chunks through a temp file (never the whole artifact twice in memory
for a path), report progress between chunks, and only then record the artifact in one write
transaction. Over the limit, or on any error, the temp file is removed: nothing partial stays.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import io
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio

from taskloom.domain.artifacts import check_media_type, check_name, guess_media_type, is_text, parse_link
from taskloom.domain.redact import redact
from taskloom.domain.search import ARTIFACT_TEXT_BYTES
from taskloom.errors import InvalidInput, NotFound, TooLarge
from taskloom.models import ArtifactContent, Uploaded
from taskloom.services import artifacts
from taskloom.services.app import Taskloom
from taskloom.store.blobs import CHUNK, Stored

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Source:
    content: str | None = None
    content_base64: str | None = None
    path: str | None = None


async def upload(
    app: Taskloom,
    source: Source,
    *,
    name: str,
    media_type: str | None = None,
    description: str | None = None,
    links: list[str] | None = None,
    agent: str | None = None,
    progress: Progress | None = None,
    local_paths: bool = True,
) -> Uploaded:
    """Store the bytes (deduplicated), then record the artifact and its links.

    `local_paths=False` is for callers who must not read this machine's files (a person's CLI
    passes its own bytes; the server passes whether the transport is local).
    """
    name = check_name(name)
    media_type = check_media_type(media_type) if media_type else None
    for link in links or []:
        parse_link(link)  # bad syntax fails before any bytes move
    limit = app.settings.artifact_max_bytes
    quota = app.settings.artifact_quota_bytes
    reader, total = _open(app, source, limit, local_paths)
    with reader:
        sha = hashlib.sha256(reader.getbuffer()).hexdigest() if isinstance(reader, io.BytesIO) else None
        await app.peek(artifacts.precheck, links or ["project"], total, quota, sha, agent=agent)
        # Bytes in memory are hashed already: if they are stored, copying them again is waste.
        # Off the loop: with PostgreSQL this is a round trip.
        kept = await anyio.to_thread.run_sync(app.blobs.known, sha, total) if sha else None
        if kept is not None:
            stored, head = kept, reader.getvalue()[:8192]  # type: ignore[union-attr]
        else:
            stored, head = await _store(app, reader, total, limit, progress)
    return await keep(
        app, stored, head, name=name, media_type=media_type, description=description, links=links, agent=agent
    )


async def keep(
    app: Taskloom,
    stored: Stored,
    head: bytes,
    *,
    name: str,
    media_type: str | None,
    description: str | None,
    links: list[str] | None,
    agent: str | None,
) -> Uploaded:
    """Record a stored blob as an artifact (its type guessed from `head`, its first bytes when
    not given); if that fails, a blob this upload made is removed again."""
    media_type = media_type or guess_media_type(name, head)
    try:
        text = await searchable_text(app, stored, media_type)
        return await app.write(
            artifacts.record,
            stored,
            name=name,
            media_type=media_type,
            description=description,
            links=links or [],
            quota=app.settings.artifact_quota_bytes,
            blobs=app.blobs,
            text=text,
            agent=agent,
        )
    except BaseException:
        if stored.new:  # nothing partial stays behind: not even a whole blob nobody recorded
            with anyio.CancelScope(shield=True):
                await app.write(artifacts.discard, stored.sha256, app.blobs)
        raise


async def searchable_text(app: Taskloom, stored: Stored, media_type: str) -> str | None:
    """What search indexes of a text artifact: its first ARTIFACT_TEXT_BYTES as UTF-8 (a stray
    byte or a character cut at the end becomes U+FFFD), secrets masked as in any stored text;
    None for other media types. Read and masked before the write transaction, off the event loop:
    masking 256 KiB takes a few hundred milliseconds, which the write lock must not wait for."""
    if not is_text(media_type):
        return None

    def text() -> str:
        data = app.blobs.read(stored.sha256, ARTIFACT_TEXT_BYTES)
        # NUL is no part of any word, and PostgreSQL's text cannot hold it.
        return redact(data.decode("utf-8", errors="replace").replace("\x00", " ")).text

    return await anyio.to_thread.run_sync(text)


async def _store(
    app: Taskloom, reader: BinaryIO, total: int, limit: int, progress: Progress | None
) -> tuple[Stored, bytes]:
    """Copy `reader` into a new blob chunk by chunk, off the event loop; returns it and its first bytes."""
    # Made here, not in a worker thread: a cancellation while a thread made it would leak its
    # open, locked temp file (mkstemp and flock take microseconds).
    writer = app.blobs.writer(limit)

    def step() -> bytes:
        chunk = reader.read(CHUNK)
        if chunk:
            writer.write(chunk)
        return chunk

    head = b""
    done = 0
    try:
        while chunk := await anyio.to_thread.run_sync(step):
            head = head or chunk[:8192]
            done += len(chunk)
            if progress is not None and total > CHUNK:
                await progress(done, total, f"{done} of {total} bytes stored")
        return await anyio.to_thread.run_sync(writer.commit), head
    except BaseException:
        writer.abort()
        raise


def _open(app: Taskloom, source: Source, limit: int, local_paths: bool) -> tuple[BinaryIO, int]:
    """The one source given, as something to read, and its size (checked against the limit)."""
    given = [k for k, v in vars(source).items() if v is not None]
    if len(given) != 1:
        raise InvalidInput(
            f"Give exactly one of content, content_base64 or path (got {', '.join(given) or 'none'}).",
            hint="content for text, content_base64 for binary, path for a file in the project directory.",
        )
    if source.content is not None:
        try:
            data = source.content.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                "content is not valid Unicode text (it has unpaired surrogates).",
                hint="Send binary data as content_base64.",
            ) from None
    elif source.content_base64 is not None:
        _check_size(decoded_size(source.content_base64), limit)  # before decoding a huge string
        try:
            data = base64.b64decode(source.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "content_base64 is not valid base64.", hint="Encode the bytes with standard base64 (RFC 4648)."
            ) from None
    else:
        fd, size = open_within(source.path or "", readable_roots(app) if local_paths else ())
        reader = os.fdopen(fd, "rb")
        try:
            _check_size(size, limit)
        except TooLarge:
            reader.close()
            raise
        return reader, size
    _check_size(len(data), limit)
    return io.BytesIO(data), len(data)


def decoded_size(text: str) -> int:
    """How many bytes standard base64 `text` decodes to: 3 per 4 characters, less its padding.
    Read off the length and the last two characters, so a huge string is not copied to count."""
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return (len(text) - padding) * 3 // 4


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise TooLarge(
            f"The artifact is {size} bytes; the limit is {limit} bytes.",
            hint="Upload a smaller file (split or compress it). Nothing was stored.",
            details={"size": size, "limit": limit},
        )


def readable_roots(app: Taskloom) -> tuple[Path, ...]:
    """Configured roots; else the project directory for a local (stdio) server; else none."""
    if app.settings.artifact_roots is not None:
        return app.settings.artifact_roots
    return (Path.cwd().resolve(),) if app.settings.transport == "stdio" else ()


def open_within(path: str, roots: tuple[Path, ...]) -> tuple[int, int]:
    """Open a regular file that really lies inside one of `roots`; returns (fd, size).

    The check is on the resolved path, so `..` and symlinks cannot leave the roots. The file is
    then opened with O_NOFOLLOW and the path the kernel actually opened is checked again, so
    swapping a symlink in anywhere on the path after the first check does not help either. FIFOs
    and devices are refused before they are read, and so are hard links (below).

    Whatever lies outside the roots gets one answer, `outside`, whether it exists or not: the
    path is placed before anything is asked of the file, so a caller cannot probe for files
    outside. "Not found" is only said of a place inside a root, which is the caller's to see.
    """
    if not roots:
        raise InvalidInput(
            "Uploading by path is off on this server (it is reached over the network and has no roots).",
            hint="Send the bytes as content or content_base64, or start the server with --root DIR.",
        )
    if not path or "\x00" in path:
        raise InvalidInput("path is empty or contains NUL.", hint="Give a file path inside the project directory.")
    candidate = Path(path) if os.path.isabs(path) else roots[0] / path
    try:
        # Not strict: a missing file resolves too, so it is placed inside or outside like any other.
        real = candidate.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        real = Path(os.path.normpath(candidate))
    if not _inside(real, roots):
        raise outside(path, roots)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"No file at {path}.", hint=f"Check the path; relative paths start at {roots[0]}.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink loop, or the last part became a symlink since
            raise NotFound(f"No file at {path}.", hint=f"Check the path; relative paths start at {roots[0]}.") from None
        raise InvalidInput(f"Cannot open {path}: {exc.strerror}.", hint="Upload a readable regular file.") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{path} is not a regular file.", hint="Upload a regular file, not a device or pipe.")
        if not _inside(_opened_path(fd), roots):
            # A directory on the path was swapped for a symlink between the check and the open.
            raise outside(path, roots)
        if st.st_nlink > 1 and Path("/") not in roots:
            # A hard link is the same file under another name, perhaps outside the roots, and
            # nothing portable finds a file's other names: so a file with more than one is refused.
            raise InvalidInput(
                f"{path} has {st.st_nlink} names (it is hard-linked), and another name may lie outside the "
                "directories this server may read.",
                hint="Copy the file (cp, not ln) to a new file under the root and upload the copy.",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def outside(path: str, roots: tuple[Path, ...]) -> InvalidInput:
    """The one answer for any path outside the roots: it says nothing about what is there."""
    return InvalidInput(
        f"{path} is outside the directories this server may read.",
        hint=f"Upload files under {', '.join(str(r) for r in roots)}, or send the bytes as content_base64.",
    )


def _inside(path: Path | None, roots: tuple[Path, ...]) -> bool:
    return path is not None and any(path.is_relative_to(root) for root in roots)


def _opened_path(fd: int) -> Path | None:
    """Where the open file really is, as the kernel saw it at open time (Linux's /proc)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


async def read(
    app: Taskloom, ref_sha: str, *, want: str = "auto", max_bytes: int = 64 * 1024, agent: str | None = None
) -> ArtifactContent:
    """The artifact's metadata and its content as text, base64 or a local path (see artifacts_get)."""
    meta = await app.peek(artifacts.get, ref_sha, agent=agent)
    if want == "path":
        if app.settings.transport != "stdio":
            raise InvalidInput(
                "A local path is only given to local (stdio) clients.", hint="Ask for text or base64 instead."
            )
        try:
            path = await anyio.to_thread.run_sync(app.blobs.local_path, meta.sha256)
        except FileNotFoundError:
            raise missing(meta.sha256) from None
        return ArtifactContent(artifact=meta, encoding="path", path=str(path))
    as_text = want == "text" or (want == "auto" and is_text(meta.media_type))
    try:
        data = await anyio.to_thread.run_sync(app.blobs.read, meta.sha256, max_bytes)
    except FileNotFoundError:
        raise missing(meta.sha256) from None
    truncated = meta.size > max_bytes
    if as_text:
        # A cut may split a character, and a text type may hold stray bytes: neither is an error.
        text = data.decode("utf-8", errors="replace")
        more = f" Showing the first {max_bytes} of {meta.size} bytes; raise max_bytes for more." if truncated else ""
        return ArtifactContent(artifact=meta, encoding="text", text=text, truncated=truncated, message=more.strip())
    if truncated:
        return ArtifactContent(
            artifact=meta,
            encoding="none",
            message=f"The artifact is {meta.size} bytes, over max_bytes={max_bytes}. Raise max_bytes, "
            f"or read the resource {meta.uri}{_OR_URL if app.settings.transport != 'stdio' else ''}.",
        )
    return ArtifactContent(artifact=meta, encoding="base64", base64=base64.b64encode(data).decode())


_OR_URL = ', or ask for want="url" and GET that (over HTTP, the fastest way)'


def missing(sha: str) -> NotFound:
    return NotFound(
        f"The bytes of artifact {sha} are missing from disk.",
        hint="Upload the file again; the data directory was changed outside taskloom.",
    )
