"""`taskloom copy`: move projects from one database to another (SQLite and PostgreSQL, either way).

Rows keep their ids, so every reference (a dependency, a reply, a link) stays right without a
mapping; that is also why the destination must hold no project yet: ids from elsewhere would
collide. The source is read in one snapshot, the rows are written in one destination
transaction (all or nothing), and the artifact bytes go first, through the `Blobs` protocol with
their hash and size declared, so a row never names bytes that are not there and corrupt bytes
never land. Then every table's rows are counted on both sides and every blob is read back and
hashed: the copy is verified or says what differs.

The SQL is each backend's (`queries/copy.sql`); this module only says what goes in what order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from taskloom.config import Settings
from taskloom.errors import Conflict, InvalidInput, NotFound, Storage
from taskloom.models.copying import CopyReport, TableCount
from taskloom.services import projects
from taskloom.store import backends
from taskloom.store.base import Store, Tx
from taskloom.store.blobs import Blobs, fill

Rows = list[dict[str, Any]]

# Every table of a project, in the order `read_rows` reads and `write_rows` writes them (foreign
# keys first): the one list copy, export and import walk. A new base table goes here, in both of
# those functions and in `copy_counts` (tests/test_cli_copy.py checks they agree). A derived table,
# an index the write path keeps (a search index), does not: writing the base rows rebuilds it.
TABLES = (
    "projects", "sprints", "streams", "stream_deps", "tasks", "task_deps", "task_labels", "notes", "events",
    "memory", "agents", "roles", "messages", "message_receipts", "thread_readers", "escalations",
    "claim_waiters", "runs", "file_reservations", "artifacts", "artifact_links", "artifact_texts",
)


@dataclass(frozen=True)
class Project:
    name: str
    rows: dict[str, Rows]  # table -> rows, in the order they are written
    counts: dict[str, int]


def read_rows(tx: Tx, project: int) -> dict[str, Rows]:
    """One project's rows, table by table, in foreign-key order: what a row refers to comes first."""
    p = {"project": project}
    found = {
        "projects": tx.all("copy_projects_read", p),
        "sprints": tx.all("copy_sprints_read", p),
        "streams": tx.all("copy_streams_read", p),
        "stream_deps": tx.all("copy_stream_deps_read", p),
        "tasks": tx.all("copy_tasks_read", p),
        "task_deps": tx.all("copy_task_deps_read", p),
        "task_labels": tx.all("copy_task_labels_read", p),
        "notes": tx.all("copy_notes_read", p),
        "events": tx.all("copy_events_read", p),
        "memory": tx.all("copy_memory_read", p),
        "agents": tx.all("copy_agents_read", p),
        "roles": tx.all("copy_roles_read", p),
        "messages": tx.all("copy_messages_read", p),
        "message_receipts": tx.all("copy_message_receipts_read", p),
        "thread_readers": tx.all("copy_thread_readers_read", p),
        "escalations": tx.all("copy_escalations_read", p),
        "claim_waiters": tx.all("copy_claim_waiters_read", p),
        "runs": tx.all("copy_runs_read", p),
        "file_reservations": tx.all("copy_file_reservations_read", p),
        "artifacts": tx.all("copy_artifacts_read", p),
        "artifact_links": tx.all("copy_artifact_links_read", p),
        "artifact_texts": tx.all("copy_artifact_texts_read", p),
    }
    return {table: [dict(r) for r in rows] for table, rows in found.items()}


def write_rows(tx: Tx, rows: dict[str, Rows]) -> None:
    """The counterpart of `read_rows`, in the same order."""
    tx.many("copy_projects_write", rows["projects"])
    tx.many("copy_sprints_write", rows["sprints"])
    tx.many("copy_streams_write", rows["streams"])
    tx.many("copy_stream_deps_write", rows["stream_deps"])
    tx.many("copy_tasks_write", rows["tasks"])
    tx.many("copy_task_deps_write", rows["task_deps"])
    tx.many("copy_task_labels_write", rows["task_labels"])
    tx.many("copy_notes_write", rows["notes"])
    tx.many("copy_events_write", rows["events"])
    tx.many("copy_memory_write", rows["memory"])
    tx.many("copy_agents_write", rows["agents"])
    tx.many("copy_roles_write", rows["roles"])
    tx.many("copy_messages_write", rows["messages"])
    tx.many("copy_message_receipts_write", rows["message_receipts"])
    tx.many("copy_thread_readers_write", rows["thread_readers"])
    tx.many("copy_escalations_write", rows["escalations"])
    tx.many("copy_claim_waiters_write", rows["claim_waiters"])
    tx.many("copy_runs_write", rows["runs"])
    tx.many("copy_file_reservations_write", rows["file_reservations"])
    tx.many("copy_artifacts_write", rows["artifacts"])
    tx.many("copy_artifact_links_write", rows["artifact_links"])
    tx.many("copy_artifact_texts_write", rows["artifact_texts"])


def counts(tx: Tx, project: int) -> dict[str, int]:
    row = tx.one("copy_counts", {"project": project})
    assert row is not None  # an aggregate always answers one row
    return {table: int(n) for table, n in dict(row).items()}


def read_projects(tx: Tx, name: str | None, where: str, verb: str = "copy", flag: str = "--from") -> list[Project]:
    """The named project, or every project, from one snapshot."""
    names = [name] if name is not None else [p.name for p in projects.listing(tx)]
    if not names:
        raise NotFound(f"{where} holds no projects: there is nothing to {verb}.",
                       hint=f"Check {flag}: it names the database to {verb} from.")
    out = []
    for each in names:
        row = tx.one("project_get", {"name": each})
        if row is None:
            missing = projects.unknown(tx, each, where)
            missing.hint = f"Pick one with --project NAME, or leave --project out to {verb} every project."
            raise missing
        out.append(Project(each, read_rows(tx, row["id"]), counts(tx, row["id"])))
    return out


def refuse_occupied(tx: Tx, where: str, command: str = "taskloom copy",
                    hint: str = "Copy into a new, empty database (e.g. `createdb NAME`, or a new SQLite path).") -> None:
    """Ids are kept, so a database that holds any project already could collide: refuse it."""
    present = projects.listing(tx)
    if present:
        shown = ", ".join(p.name for p in present[: projects.NAMED_IN_ERRORS])
        raise Conflict(
            f"{where} already holds projects ({shown}); {command} only fills a database that holds none, "
            "because it keeps every id. Nothing was changed.",
            hint=hint, details={"projects": [p.name for p in present]},
        )


def write_projects(tx: Tx, found: list[Project], where: str, **refusal: str) -> None:
    """All the rows, into a database that holds no project yet (checked in the same transaction)."""
    refuse_occupied(tx, where, **refusal)
    for project in found:
        write_rows(tx, project.rows)
    tx.one("copy_identities_reset")


def copy_blobs(found: list[Project], source: Blobs, target: Blobs) -> None:
    """Every artifact's bytes into the target, declared by hash and size, so the target's writer
    refuses bytes that are not the ones the rows name (a damaged source file)."""
    for sha, size, name in _contents(found):
        if target.known(sha, size) is not None:
            continue
        what = f"The bytes of artifact {name!r} ({sha[:12]}) in the source"
        try:
            fill(target.writer(size, sha256=sha, size=size), source.read(sha))
        except FileNotFoundError:
            raise Storage(f"{what} are missing; nothing was copied.", hint=_FIX_SOURCE) from None
        except InvalidInput as exc:
            raise Storage(f"{what} are damaged: {exc.message}", hint=_FIX_SOURCE) from None


_FIX_SOURCE = "Upload the file again in the source, or remove the artifact there (artifacts_gc), then copy again."


def bad_blobs(found: list[Project], target: Blobs) -> tuple[list[str], int]:
    """Contents the target lacks or holds damaged, each read back whole and hashed; and the bytes checked."""
    bad, total = [], 0
    for sha, size, _ in _contents(found):
        try:
            data = target.read(sha)
        except (FileNotFoundError, Storage):
            bad.append(sha)
            continue
        total += len(data)
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            bad.append(sha)
    return bad, total


def _contents(found: list[Project]) -> list[tuple[str, int, str]]:
    seen: dict[str, tuple[str, int, str]] = {}
    for project in found:
        for a in project.rows["artifacts"]:
            seen.setdefault(a["sha256"], (a["sha256"], a["size"], a["name"]))
    return list(seen.values())


def check_pair(source: Settings, target: Settings) -> None:
    """Refuse what cannot be a copy, before anything is opened or created."""
    here, there = backends.database(source), backends.database(target)
    for db, flag in ((here, "--from"), (there, "--to")):
        if db.path is not None and str(db.path) == ":memory:":
            raise InvalidInput(f"{flag} names an in-memory database, which no other process can see.",
                               hint=f"Give {flag} a file path or a postgresql:// URL.")
    if here.path is not None and not here.path.is_file():
        raise NotFound(f"No taskloom database at {here.path} (--from).",
                       hint="Check --from: it names the SQLite file (or postgresql:// URL) to copy from.")
    if _same(here, there):
        raise InvalidInput("--from and --to name the same database.",
                           hint="Copy into another database: a new SQLite path or an empty PostgreSQL database.")


def _same(a: backends.Database, b: backends.Database) -> bool:
    if a.path is not None and b.path is not None:
        return Path(a.path).resolve() == Path(b.path).resolve()
    if a.url is not None and b.url is not None:
        return backends.same_server_database(a.url, b.url)
    return False


async def copy(source: Settings, target: Settings, project: str | None) -> CopyReport:
    """Copy `project` (or every project) from `source` to `target`, then verify; see the module."""
    check_pair(source, target)
    here, there = backends.label(source), backends.label(target)
    src = await backends.open_store(source)
    try:
        found = await src.read(lambda tx: read_projects(tx, project, here))
        dst = await backends.open_store(target)
        try:
            return await _into(found, source, target, dst, here, there)
        finally:
            await dst.close()
    finally:
        await src.close()


async def _into(found: list[Project], source: Settings, target: Settings, dst: Store, here: str, there: str) -> CopyReport:
    src_blobs = await anyio.to_thread.run_sync(backends.open_blobs, source)
    try:
        dst_blobs = await anyio.to_thread.run_sync(backends.open_blobs, target)
        try:
            await anyio.to_thread.run_sync(copy_blobs, found, src_blobs, dst_blobs)
            ids = [p.rows["projects"][0]["id"] for p in found]
            await dst.load(lambda tx: write_projects(tx, found, there), ids)
            copied = await dst.read(lambda tx: [counts(tx, i) for i in ids])
            bad, total = await anyio.to_thread.run_sync(bad_blobs, found, dst_blobs)
        finally:
            await anyio.to_thread.run_sync(dst_blobs.close)
    finally:
        await anyio.to_thread.run_sync(src_blobs.close)
    tables = [
        TableCount(table=t, source=sum(p.counts[t] for p in found), destination=sum(c[t] for c in copied))
        for t in found[0].counts
    ]
    return CopyReport(source=here, destination=there, projects=[p.name for p in found], tables=tables,
                      blobs=len(_contents(found)), blob_bytes=total, bad_blobs=bad)

