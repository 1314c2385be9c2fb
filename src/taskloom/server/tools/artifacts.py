"""Artifact tools: files agents hand on (reports, logs, patches, screenshots), stored by content."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field
from starlette.requests import Request

from taskloom.config import ARTIFACT_MAX_BYTES
from taskloom.domain.artifacts import MAX_DESCRIPTION, MAX_LINKS, sha_of
from taskloom.errors import InvalidInput
from taskloom.models import Artifact, ArtifactContent, ArtifactPage, Code, GcResult, Uploaded
from taskloom.server import transfer
from taskloom.server.tools.common import DESTRUCTIVE, IDEMPOTENT, READ, WRITE, AgentArg, ToolDef, app_of
from taskloom.services import artifacts, transfers, uploads

ArtifactArg = Annotated[str, Field(max_length=200, description="its URI or sha256")]
LinksArg = Annotated[
    list[Annotated[str, Field(max_length=100)]],
    Field(max_length=MAX_LINKS, description="'task:T-1', 'stream:<code>', 'sprint:<code>' or 'project'"),
]


async def artifacts_upload(
    ctx: Context,
    name: Annotated[str, Field(max_length=255, description="e.g. report.md")],
    content: str | None = None,
    content_base64: str | None = None,
    path: Annotated[str | None, Field(max_length=4096)] = None,
    media_type: Annotated[str | None, Field(max_length=200, description="guessed if omitted")] = None,
    description: Annotated[str | None, Field(max_length=MAX_DESCRIPTION)] = None,
    links: LinksArg | None = None,
    sha256: Annotated[str | None, Field(max_length=64)] = None,
    agent: AgentArg = None,
) -> Uploaded:
    """Store a file for others: text content, content_base64 or a path; over HTTP, sha256 alone
    gets an upload_url. Links default to the project. Returns its URI (for task_done's
    artifacts). Errors: too_large."""
    app = app_of(ctx)
    if sha256 is not None:
        if given := [k for k, v in (("content", content), ("content_base64", content_base64), ("path", path)) if v is not None]:
            raise InvalidInput(f"Give sha256 alone, without {', '.join(given)}.",
                               hint="sha256 asks for an upload URL; the bytes then go there, not in this call.")
        base = _http_base(ctx, "An upload URL", "Upload by path or content instead.")
        declared = transfers.Declared(sha256=sha256, name=name, media_type=media_type, description=description,
                                      links=links or [], agent=agent)
        return await transfers.reserve(app, declared, lambda d: transfer.upload_url(base, d))

    async def progress(done: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(done, total, message)

    return await uploads.upload(
        app,
        uploads.Source(content, content_base64, path),
        name=name,
        media_type=media_type,
        description=description,
        links=links,
        agent=agent,
        progress=progress,
    )


def _http_base(ctx: Context, what: str, instead: str) -> str:
    """This server's address as the caller reached it; refused off HTTP (stdio, in-memory)."""
    request = getattr(ctx.request_context, "request", None)
    if not isinstance(request, Request):
        raise InvalidInput(f"{what} is only given over HTTP.", hint=instead)
    return str(request.base_url)


async def artifacts_get(
    ctx: Context,
    artifact: ArtifactArg,
    want: Annotated[
        Literal["auto", "text", "base64", "path", "url"], Field(description="auto: text for text types, else base64")
    ] = "auto",
    max_bytes: Annotated[int, Field(ge=1, le=ARTIFACT_MAX_BYTES)] = 64 * 1024,
) -> ArtifactContent:
    """Read an artifact: metadata plus content as text (cut at max_bytes), base64, a local file
    path (stdio only) or a url to GET (HTTP)."""
    app = app_of(ctx)
    if want != "url":
        return await uploads.read(app, sha_of(artifact), want=want, max_bytes=max_bytes)
    base = _http_base(ctx, "A URL", 'Ask for want="path" (stdio), text or base64.')
    meta = await app.peek(artifacts.get, sha_of(artifact))
    return ArtifactContent(
        artifact=meta, encoding="url", url=transfer.download_url(base, meta.sha256),
        message="GET url with this connection's Authorization header; Range requests work.",
    )


async def artifacts_list(
    ctx: Context,
    task: Annotated[str | None, Field(max_length=64)] = None,
    stream: Code | None = None,
    sprint: Code | None = None,
    name: Annotated[str | None, Field(max_length=255, description="substring or glob, e.g. *.md")] = None,
    media_type: Annotated[str | None, Field(max_length=200, description="e.g. image/ or text/markdown")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    offset: Annotated[int, Field(ge=0, le=2**31)] = 0,
) -> ArtifactPage:
    """List artifacts, newest first. A stream or sprint filter includes its tasks' artifacts."""
    return await app_of(ctx).read(
        artifacts.listing,
        task=task,
        stream=stream,
        sprint=sprint,
        name=name,
        media_type=media_type,
        limit=limit,
        offset=offset,
    )


async def artifacts_link(ctx: Context, artifact: ArtifactArg, links: LinksArg, agent: AgentArg = None) -> Artifact:
    """Link an artifact to more tasks, streams, sprints or the project. Safe to repeat."""
    return await app_of(ctx).write(artifacts.link, sha_of(artifact), links, agent=agent)


async def artifacts_unlink(ctx: Context, artifact: ArtifactArg, links: LinksArg, agent: AgentArg = None) -> Artifact:
    """Remove links. An artifact with no links left is kept until artifacts_gc collects it."""
    return await app_of(ctx).write(artifacts.unlink, sha_of(artifact), links, agent=agent)


async def artifacts_gc(
    ctx: Context,
    older_than_seconds: Annotated[float, Field(ge=0, le=10**9, description="grace period")] = 600,
    dry_run: bool = False,
    agent: AgentArg = None,
) -> GcResult:
    """Delete artifacts unlinked for the grace period, and stored bytes nothing refers to.
    Linked artifacts are never touched. dry_run only counts."""
    app = app_of(ctx)
    return await app.write(artifacts.gc, app.blobs, older_than=older_than_seconds, dry_run=dry_run, agent=agent)


TOOLS = [
    ToolDef(artifacts_upload, "Upload an artifact", WRITE),
    ToolDef(artifacts_get, "Read an artifact", READ),
    ToolDef(artifacts_list, "List artifacts", READ),
    ToolDef(artifacts_link, "Link an artifact", IDEMPOTENT),
    ToolDef(artifacts_unlink, "Unlink an artifact", IDEMPOTENT),
    ToolDef(artifacts_gc, "Collect unlinked artifacts", DESTRUCTIVE),
]
