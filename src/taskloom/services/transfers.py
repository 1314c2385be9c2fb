"""Artifacts over plain HTTP (server/transfer.py): a streamed upload of declared bytes, and a download.

An upload names its SHA-256 before the bytes come. They are hashed and written through a blob
writer as they arrive, in CHUNK steps off the event loop, never held whole. The byte limit is
the smaller of the artifact limit and what is left of the project's quota, and it is checked
as each piece arrives, so an upload over either is refused at the piece that passes it, not
after the whole body. A wrong hash or size, a body that stops, a client that goes away: the
writer is aborted and nothing is stored (on disk its temp file is removed; on PostgreSQL the
spool is dropped before the database sees a byte). Then the blob is recorded as any upload is
(`uploads.keep`), which checks the quota once more inside the write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from taskloom.domain.artifacts import check_description, check_media_type, check_name, parse_link, sha_of
from taskloom.errors import TooLarge
from taskloom.models import Artifact, Uploaded
from taskloom.services import artifacts, uploads
from taskloom.services.app import Taskloom
from taskloom.services.common import Scope
from taskloom.store.base import Tx
from taskloom.store.blobs import CHUNK, Stored, Writer

HEAD = 8192  # first bytes kept for guessing the media type, as uploads.upload keeps them


@dataclass(frozen=True)
class Declared:
    """What an uploader says of the bytes before sending them."""

    sha256: str
    name: str
    size: int | None = None  # Content-Length, when the client sent one
    media_type: str | None = None
    description: str | None = None
    links: list[str] = field(default_factory=list)
    agent: str | None = None


@dataclass(frozen=True)
class Room:
    held: Artifact | None  # the project has these bytes already: only links are added
    left: int  # bytes the project's quota has left


def room(tx: Tx, scope: Scope, links: list[str], sha: str, quota: int) -> Room:
    """Before any bytes move: the link targets exist, and what the quota leaves."""
    artifacts.targets(tx, scope, links)
    row = tx.one("artifact_by_sha", {"project": scope.project_id, "sha": sha})
    if row is not None:
        return Room(artifacts.get(tx, scope, sha), 0)
    return Room(None, quota - tx.scalar("artifact_bytes_used", {"project": scope.project_id}))


async def check(app: Taskloom, declared: Declared) -> tuple[Declared, Room]:
    """Everything that can be refused before a byte is read: names, links, sizes, quota.
    Returns the declaration with its name and media type normalised, and the room found."""
    declared = replace(
        declared,
        sha256=sha_of(declared.sha256),
        name=check_name(declared.name),
        media_type=check_media_type(declared.media_type) if declared.media_type else None,
        links=declared.links or ["project"],
    )
    check_description(declared.description)
    for link in declared.links:
        parse_link(link)
    quota = app.settings.artifact_quota_bytes
    found = await app.peek(room, declared.links, declared.sha256, quota, agent=declared.agent)
    if found.held is None and declared.size is not None:
        _refuse_over(app, found, declared.size)
    return declared, found


async def receive(app: Taskloom, declared: Declared, body: AsyncIterator[bytes], found: Room) -> Uploaded:
    """Store `body` as the artifact `check` passed. Bytes this project holds already are not
    read again: the links are added, and the answer says so (`new` false)."""
    if found.held is not None:
        stored, head = Stored(declared.sha256, found.held.size, new=False), b""
    else:
        stored, head = await _stream(app, declared, body, found)
    return await uploads.keep(
        app, stored, head, name=declared.name, media_type=declared.media_type,
        description=declared.description, links=declared.links, agent=declared.agent,
    )


async def reserve(app: Taskloom, declared: Declared, url_for: Callable[[Declared], str]) -> Uploaded:
    """The first of two steps (artifacts_upload with sha256): check all but the bytes, then say
    where to PUT them (`url_for` the checked declaration). Bytes the project holds already need
    no second step: the links are added at once."""
    declared, found = await check(app, declared)
    if found.held is not None:
        return await receive(app, declared, _nothing(), found)
    return Uploaded(
        artifact=None,
        new=True,
        upload_url=url_for(declared),
        message="Nothing is stored yet. PUT the file's bytes to upload_url with this connection's "
        "Authorization header, e.g. curl -T FILE -H 'Authorization: Bearer <token>' '<upload_url>'; "
        "the answer is the artifact. Bytes that do not hash to sha256 are refused, and nothing is stored.",
    )


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # makes this an async generator, of no items


async def _stream(app: Taskloom, declared: Declared, body: AsyncIterator[bytes], found: Room) -> tuple[Stored, bytes]:
    # Made here, not in a worker thread: a cancellation while a thread made it would leak its
    # open, locked temp file (as in uploads._store).
    writer: Writer = app.blobs.writer(app.settings.artifact_max_bytes, sha256=declared.sha256, size=declared.size)
    head = bytearray()
    pending = bytearray()
    received = 0
    try:
        async for piece in body:
            received += len(piece)
            _refuse_over(app, found, received)  # at the piece that passes the limit, not at the end
            if len(head) < HEAD:
                head += piece[: HEAD - len(head)]
            pending += piece
            if len(pending) >= CHUNK:
                # One hop per CHUNK, not per piece: the socket hands over ~64 KiB at a time.
                await anyio.to_thread.run_sync(writer.write, bytes(pending))
                pending.clear()
        if pending:
            await anyio.to_thread.run_sync(writer.write, bytes(pending))
        return await anyio.to_thread.run_sync(writer.commit), bytes(head)
    except BaseException:
        writer.abort()
        raise


def _refuse_over(app: Taskloom, found: Room, size: int) -> None:
    limit = app.settings.artifact_max_bytes
    if size > limit:
        raise TooLarge(
            f"The artifact is over the {limit}-byte limit.",
            hint="Upload a smaller file (split or compress it). Nothing was stored.",
            details={"limit": limit},
        )
    if size > found.left:
        quota = app.settings.artifact_quota_bytes
        raise TooLarge(
            f"The project's artifacts would take over its {quota}-byte quota.",
            hint="Unlink artifacts nobody needs and run artifacts_gc, or ask for a larger quota. Nothing was stored.",
            details={"left": max(found.left, 0), "limit": quota},
        )


async def describe(app: Taskloom, sha: str, agent: str | None = None) -> Artifact:
    """An artifact of this project whose bytes are stored, without fetching them (a HEAD request)."""
    meta = await app.read(artifacts.get, sha_of(sha), agent=agent)
    if not await anyio.to_thread.run_sync(app.blobs.exists, meta.sha256):
        raise uploads.missing(meta.sha256)
    return meta


async def locate(app: Taskloom, sha: str, agent: str | None = None) -> tuple[Artifact, Path]:
    """An artifact of this project and a local file with its bytes (PostgreSQL: a verified copy)."""
    meta = await app.read(artifacts.get, sha_of(sha), agent=agent)
    try:
        return meta, await anyio.to_thread.run_sync(app.blobs.local_path, meta.sha256)
    except FileNotFoundError:
        raise uploads.missing(meta.sha256) from None
