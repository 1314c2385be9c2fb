"""Artifact use cases inside one transaction: record an upload, list, link, unlink, collect garbage.

The bytes are already stored (store/blobs.py) when `record` runs: a blob without a row is
invisible and `gc` removes it later, while a row without its blob can never be committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from taskloom.clock import iso
from taskloom.domain.artifacts import MAX_LINKS, LinkKind, check_description, parse_link, uri_of
from taskloom.domain.events import EventKind
from taskloom.domain.globs import name_filter
from taskloom.domain.limits import MAX_PAGE, check_batch
from taskloom.errors import Conflict, InvalidInput, NotFound, TooLarge
from taskloom.models import Artifact, ArtifactPage, GcResult, Uploaded
from taskloom.services.common import Scope, event, sprint_id, stream_id, task_row
from taskloom.store.base import Row, Tx
from taskloom.store.blobs import Blobs, Stored

Target = tuple[LinkKind, int, str]  # kind, row id, label ('task:T-1')


def targets(tx: Tx, scope: Scope, links: Iterable[str]) -> list[Target]:
    links = list(dict.fromkeys(links))
    check_batch("links", len(links), MAX_LINKS)
    found: list[Target] = []
    for link in links:
        kind, code = parse_link(link)
        if kind == "project":
            found.append(("project", scope.project_id, "project"))
        elif kind == "task":
            found.append(("task", task_row(tx, scope, code)["id"], f"task:{code}"))
        elif kind == "stream":
            found.append(("stream", stream_id(tx, scope, code), f"stream:{code}"))
        else:
            found.append(("sprint", sprint_id(tx, scope, code), f"sprint:{code}"))
    return found


def precheck(tx: Tx, scope: Scope, links: list[str], size: int, quota: int, sha: str | None) -> None:
    """Before any bytes move: the link targets exist and the quota has room, as far as is known.

    With the hash known (bytes in memory), content the project already holds costs nothing; a
    file's hash is only known once it is copied, so then only an outright overflow is refused
    here and `record` does the exact check.
    """
    targets(tx, scope, links)
    if sha is None:
        _check_quota(tx, scope, size, quota, used=0)
    elif tx.one("artifact_by_sha", {"project": scope.project_id, "sha": sha}) is None:
        _check_quota(tx, scope, size, quota)


def discard(tx: Tx, scope: Scope, sha: str, blobs: Blobs) -> None:
    """Remove a blob an upload wrote but could not record, unless some row holds it by now."""
    if not tx.scalar("artifact_sha_held", {"sha": sha}):
        blobs.delete(sha)


def _check_quota(tx: Tx, scope: Scope, size: int, quota: int, used: int | None = None) -> None:
    if used is None:
        used = tx.scalar("artifact_bytes_used", {"project": scope.project_id})
    if used + size > quota:
        raise TooLarge(
            f"The project's artifacts would take {used + size} bytes; the quota is {quota}.",
            hint="Unlink artifacts nobody needs and run artifacts_gc, or ask for a larger quota. Nothing was stored.",
            details={"used": used, "size": size, "limit": quota},
        )


def record(
    tx: Tx,
    scope: Scope,
    stored: Stored,
    *,
    name: str,
    media_type: str,
    description: str | None,
    links: list[str],
    quota: int,
    blobs: Blobs,
    text: str | None = None,
) -> Uploaded:
    """Record stored bytes as an artifact of the project and link it. `text`, for a text
    artifact, is what search finds of its content (uploads.searchable_text)."""
    check_description(description)
    wanted = targets(tx, scope, links or ["project"])
    row = tx.one("artifact_by_sha", {"project": scope.project_id, "sha": stored.sha256})
    new = row is None
    if new:
        _check_quota(tx, scope, stored.size, quota)  # again: another upload may have landed since
        if not blobs.exists(stored.sha256):
            # Only a gc run with no grace period between our write and this commit gets here.
            raise Conflict("The uploaded bytes were collected before they were recorded.", hint="Upload again.")
        artifact_id = tx.scalar(
            "artifact_insert",
            {
                "project": scope.project_id,
                "sha": stored.sha256,
                "name": name,
                "media_type": media_type,
                "size": stored.size,
                "description": description,
                "agent": scope.agent,
                "now": scope.now,
            },
        )
        if text:
            tx.run("artifact_text_insert", {"id": artifact_id, "body": text})
        event(tx, scope, EventKind.ARTIFACT_UPLOADED, uri_of(stored.sha256), name=name, size=stored.size)
    else:
        artifact_id = row["id"]
        if description:
            tx.run("artifact_fill_description", {"id": artifact_id, "description": description})
    _link(tx, scope, artifact_id, stored.sha256, wanted)
    artifact = _artifact(tx, tx.one("artifact_by_sha", {"project": scope.project_id, "sha": stored.sha256}))
    message = "" if new else f"These bytes were already stored as {artifact.name!r}; links were added."
    return Uploaded(artifact=artifact, new=new, message=message)


def _link(tx: Tx, scope: Scope, artifact_id: int, sha: str, wanted: list[Target]) -> None:
    for kind, target, label in wanted:
        params = {"id": artifact_id, "kind": kind, "target": target, "agent": scope.agent, "now": scope.now}
        if tx.run("artifact_link", params):
            event(tx, scope, EventKind.ARTIFACT_LINKED, label, uri=uri_of(sha))
    tx.run("artifact_relinked", {"id": artifact_id})


def _by_sha(tx: Tx, scope: Scope, sha: str) -> Row:
    row = tx.one("artifact_by_sha", {"project": scope.project_id, "sha": sha})
    if row is None:
        raise NotFound(
            f"No artifact {sha} in project {scope.project}.",
            hint="artifacts_list shows the project's artifacts; task_get lists a task's.",
        )
    return row


def _artifact(tx: Tx, row: Row) -> Artifact:
    return Artifact(
        uri=uri_of(row["sha256"]),
        sha256=row["sha256"],
        name=row["name"],
        media_type=row["media_type"],
        size=row["size"],
        description=row["description"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=iso(row["uploaded_at"]),
        links=[r["link"] for r in tx.all("artifact_links_of", {"id": row["id"]})],
    )


def by_prefix(tx: Tx, scope: Scope, prefix: str) -> str:
    """The one artifact whose sha256 starts with `prefix` (at least 6 hex digits)."""
    prefix = prefix.strip().lower()
    hint = "Give the full sha256, or at least 6 leading hex digits that only one artifact has."
    if len(prefix) < 6:
        raise InvalidInput(f"{prefix[:64]!r} is shorter than 6 hex digits.", hint=hint)
    rows = tx.all("artifact_by_prefix", {"project": scope.project_id, "prefix": prefix})
    if not rows:
        raise NotFound(f"No artifact's sha256 starts with {prefix[:64]!r}.", hint="taskloom artifacts ls lists them.")
    if len(rows) > 1:
        raise InvalidInput(f"{prefix[:64]!r} names several artifacts.", hint=hint)
    return rows[0]["sha256"]


def get(tx: Tx, scope: Scope, sha: str) -> Artifact:
    return _artifact(tx, _by_sha(tx, scope, sha))


def listing(
    tx: Tx,
    scope: Scope,
    *,
    task: str | None = None,
    stream: str | None = None,
    sprint: str | None = None,
    name: str | None = None,
    media_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ArtifactPage:
    if limit < 1 or limit > MAX_PAGE or offset < 0:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE} and offset at least 0.", hint="Page with next_offset.")
    params = {
        "project": scope.project_id,
        "task_id": task_row(tx, scope, task)["id"] if task else None,
        "stream_id": stream_id(tx, scope, stream),
        "sprint_id": sprint_id(tx, scope, sprint),
        "name_like": name_filter(name) if name else None,
        "media_prefix": media_type.lower() if media_type else None,
    }
    rows = tx.all("artifact_list", {**params, "limit": limit, "offset": offset})
    total = tx.scalar("artifact_list_count", params)
    after = offset + len(rows)
    return ArtifactPage(
        artifacts=[_artifact(tx, r) for r in rows], total=total, next_offset=after if after < total else None
    )


def link(tx: Tx, scope: Scope, sha: str, links: list[str]) -> Artifact:
    row = _by_sha(tx, scope, sha)
    _link(tx, scope, row["id"], sha, targets(tx, scope, links))
    return get(tx, scope, sha)


def unlink(tx: Tx, scope: Scope, sha: str, links: list[str]) -> Artifact:
    row = _by_sha(tx, scope, sha)
    for kind, target, label in targets(tx, scope, links):
        if tx.run("artifact_unlink", {"id": row["id"], "kind": kind, "target": target}):
            event(tx, scope, EventKind.ARTIFACT_UNLINKED, label, uri=uri_of(sha))
    tx.run("artifact_mark_unlinked", {"id": row["id"], "now": scope.now})
    return get(tx, scope, sha)


def attach(tx: Tx, scope: Scope, task_code: str, refs: list[str]) -> None:
    """Link artifacts to a task (task_done's `artifacts`); each must exist in the project."""
    task_id = task_row(tx, scope, task_code)["id"]
    for sha in refs:
        row = _by_sha(tx, scope, sha)
        _link(tx, scope, row["id"], sha, [("task", task_id, f"task:{task_code}")])


def gc(tx: Tx, scope: Scope, blobs: Blobs, *, older_than: float, dry_run: bool) -> GcResult:
    """Remove artifacts unlinked for `older_than` seconds, then blobs no row in any project holds.

    Runs inside the write transaction: no upload can record a blob while its file is judged.
    Blob files younger than `older_than` are left alone even without a row: an upload writes its
    blob before it commits the row.
    """
    doomed = tx.all("artifact_gc_candidates", {"project": scope.project_id, "cutoff": scope.now - older_than})
    doomed_shas = {r["sha256"] for r in doomed}
    freed = blobs_removed = 0
    for row in doomed:
        if not dry_run:
            tx.run("artifact_delete", {"id": row["id"]})
    held = {r["sha256"] for r in tx.all("artifact_all_shas", {"except": json.dumps([r["id"] for r in doomed])})}
    for sha in list(blobs.shas()):
        if sha in held or (sha not in doomed_shas and blobs.age(sha) < older_than):
            continue
        blobs_removed += 1
        freed += blobs.size(sha) if dry_run else blobs.delete(sha)
    temps = blobs.stale_temps(older_than)
    if not dry_run:
        for path in temps:
            path.unlink(missing_ok=True)
        if doomed or blobs_removed:
            event(tx, scope, EventKind.ARTIFACT_GC, None, artifacts=len(doomed), blobs=blobs_removed, bytes=freed)
    return GcResult(
        artifacts_removed=len(doomed),
        blobs_removed=blobs_removed,
        bytes_freed=freed,
        temp_files_removed=len(temps),
        dry_run=dry_run,
    )
