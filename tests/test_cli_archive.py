"""`taskloom export` and `taskloom import FILE.archive` on SQLite files: the round trip the issue
asks for, determinism, and every way an archive or a destination is refused with nothing written.
The same round trip through PostgreSQL is in tests/pg/test_archive.py; the project is built here,
through the tools, as agents would build it."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import sqlite3
import tarfile
from pathlib import Path

import anyio
import pytest
from mcp import Client

from taskloom.cli.main import main
from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.domain.runs import Outcome
from taskloom.errors import Conflict, InvalidInput
from taskloom.models.archive import MANIFEST
from taskloom.server import build_server
from taskloom.services import archive, copying, importing, runs
from taskloom.services.app import Taskloom
from taskloom.store import backends
from taskloom.store.sqlite.store import SqliteTx
from tests.conftest import call
from tests.test_cli import taskloom
from tests.test_cli_copy import BLOB, PROJECT, build_project, rows_of

# The part of an archive that says where it was written: a round trip changes it, nothing else.
SOURCE = "source"


async def build_full_project(settings: Settings, clock: ManualClock) -> dict[str, str]:
    """`build_project`'s project, plus what it lacks: read receipts, an escalation, a finished run with
    its cost, text outside ASCII and labels whose order depends on the collation."""
    codes = await build_project(settings, clock)
    app = await Taskloom.open(settings, clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            made = await call(c, "task_create", tasks=[
                {"title": "docs: café ✓ 日本", "key": "docs", "labels": ["Zeta", "alpha", "Äpfel", "_x"]},
            ])
            codes["docs"] = made["tasks"][0]["code"]
            inbox = await call(c, "message_inbox", agent="bob", mark_read=True)
            await call(c, "message_ack", ids=[m["id"] for m in inbox["messages"]], agent="bob")
            await call(c, "task_block", task=codes["migration"], reason="which column type?", agent="alice")
            clock.advance(30)
            await call(c, "task_note", task=codes["docs"], body="naïve — résumé", agent="alice")
        unit = next(u for u, _ in await app.read(runs.ready_units, "task", None) if u.task == codes["docs"])
        started = await app.write(runs.start, unit, runner=runs.Runner("r1", "h", 4242, 1.0), preset="claude",
                                  held_until=clock.now() + 30, agent="carol")
        await app.write(runs.spawned, started.run_id, 5151, 2.0, ["claude", "-p"], "/tmp/log", agent="carol")
        clock.advance(12.5)
        await app.write(runs.end, started.run_id, Outcome.EXITED, exit_code=0, cost_usd=0.125, turns=7,
                        agent="carol")
    finally:
        await app.close()
    return codes


def members(path: Path) -> dict[str, bytes]:
    """Every member's bytes, in archive order."""
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def same_but_source(a: Path, b: Path) -> None:
    """The two archives match member for member, in the same order; the manifests differ only in `source`."""
    ma, mb = members(a), members(b)
    assert list(ma) == list(mb)
    for name in ma:
        if name != MANIFEST:
            assert ma[name] == mb[name], name
    head_a, head_b = json.loads(ma[MANIFEST]), json.loads(mb[MANIFEST])
    head_a.pop(SOURCE), head_b.pop(SOURCE)
    assert head_a == head_b


def pack(path: Path, items: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
async def exported(tmp_path: Path, clock: ManualClock) -> Path:
    """A SQLite project with one of everything, exported (uncompressed, so tests can edit it)."""
    source = Settings(db_path=tmp_path / "a.db", project=PROJECT)
    await build_full_project(source, clock)
    report = await archive.export(source, None, tmp_path / "a.tar")
    assert report.projects == [PROJECT] and report.blobs == 1
    return tmp_path / "a.tar"


async def test_export_import_export_gives_the_same_archive_and_the_same_rows(tmp_path, clock):
    source = Settings(db_path=tmp_path / "a.db", project=PROJECT)
    await build_full_project(source, clock)

    first = await cli("export", "--db", str(tmp_path / "a.db"), "-o", str(tmp_path / "a.tar.gz"), "--json")
    loaded = taskloom("import", "--db", str(tmp_path / "b.db"), str(tmp_path / "a.tar.gz"))  # the console script
    again = await cli("export", "--db", str(tmp_path / "b.db"), "-o", str(tmp_path / "b.tar.gz"))

    assert first[0] == 0 and loaded.returncode == 0 and again[0] == 0, (first, loaded, again)
    assert "Verified: every row and every artifact's bytes are in the destination." in loaded.stdout
    report = json.loads(first[1])
    for table in ("sprints", "stream_deps", "task_deps", "task_labels", "notes", "events", "memory", "messages",
                  "message_receipts", "escalations", "runs", "file_reservations", "artifacts", "artifact_links"):
        assert report["tables"][table] > 0, table
    same_but_source(tmp_path / "a.tar.gz", tmp_path / "b.tar.gz")
    assert await rows_of(Settings(db_path=tmp_path / "b.db", project=PROJECT)) == await rows_of(source)
    (sha,) = [r[0] for r in sqlite3.connect(tmp_path / "a.db").execute("SELECT sha256 FROM artifacts")]
    assert backends.BlobStore.beside(tmp_path / "b.db").read(sha) == BLOB


async def test_the_same_data_gives_the_same_bytes_and_the_manifest_lists_every_member(exported, tmp_path):
    settings = Settings(db_path=tmp_path / "a.db")
    again = await archive.export(settings, PROJECT, tmp_path / "again.tar")
    packed = await archive.export(settings, PROJECT, tmp_path / "again.tar.gz")

    assert exported.read_bytes() == (tmp_path / "again.tar").read_bytes()
    assert again.sha256 == hashlib.sha256(exported.read_bytes()).hexdigest()
    assert gzip.decompress((tmp_path / "again.tar.gz").read_bytes()) == exported.read_bytes()
    assert packed.sha256 == hashlib.sha256((tmp_path / "again.tar.gz").read_bytes()).hexdigest()
    found = members(exported)
    head = json.loads(found[MANIFEST])
    assert next(iter(found)) == MANIFEST and head["format"] == "taskloom-archive" and head["version"] == 1
    assert head[SOURCE]["backend"] == "sqlite" and head[SOURCE]["database"] == str(tmp_path / "a.db")
    assert [t["table"] for t in head["tables"]] == list(copying.TABLES)
    for t in head["tables"]:
        data = found[t["member"]]
        assert hashlib.sha256(data).hexdigest() == t["sha256"] and data.count(b"\n") == t["rows"]
    (blob,) = head["blobs"]
    assert found[f"blobs/{blob['sha256']}"] == BLOB and blob["size"] == len(BLOB)
    with tarfile.open(exported) as tar:
        assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in tar.getmembers()} == {(0, 0, 0, 0o644, "")}


def edited(src: Path, dst: Path, fn) -> Path:
    items = list(members(src).items())
    return pack(dst, fn(items))


def _flip_table(items):
    return [(n, d.replace(b"halfway", b"HALFWAY") if n == "tables/notes.jsonl" else d) for n, d in items]


def _newer(items):
    head = json.loads(items[0][1])
    head["version"] = 2
    return [(MANIFEST, json.dumps(head).encode()), *items[1:]]


def _flip_blob(items):
    return [(n, d[:-1] + b"?" if n.startswith("blobs/") else d) for n, d in items]


@pytest.mark.parametrize(("damage", "needle"), [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "missing .is it truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[:777]), "truncated"),
    (lambda p: edited(p, p, _flip_table), "tables/notes.jsonl does not match its hash"),
    (lambda p: edited(p, p, _flip_blob), "does not match its hash"),
    (lambda p: edited(p, p, _newer), "version 2 archive, from a newer taskloom"),
    (lambda p: edited(p, p, lambda items: [*items, ("tables/extra.jsonl", b"{}\n")]), "tables/extra.jsonl is not in its manifest"),
    (lambda p: edited(p, p, lambda items: [i for i in items if i[0] != "tables/tasks.jsonl"]), r"missing .*, e.g. tables/tasks.jsonl"),
    (lambda p: edited(p, p, lambda items: [*items[1:], items[0]]), "first member is not manifest.json"),
    (lambda p: edited(p, p, lambda items: [*items, items[3]]), "is in it twice"),
    (lambda p: pack(p, [("hello.txt", b"hi")]), "first member is not manifest.json"),
    (lambda p: p.write_bytes(b"\x1f\x8b" + b"not really gzip" * 40), "truncated or not a tar"),
], ids=["truncated", "truncated-mid-member", "table-hash", "blob-hash", "newer-version", "extra-member", "missing-member", "manifest-not-first",
        "member-twice", "not-ours", "not-gzip"])
async def test_a_damaged_archive_is_refused_before_anything_is_written(exported, tmp_path, damage, needle):
    damage(exported)
    target = Settings(db_path=tmp_path / "b.db")

    with pytest.raises(InvalidInput, match=needle) as refusal:
        await importing.import_archive(target, exported)

    assert "Nothing was imported" in refusal.value.message
    assert not (tmp_path / "b.db").exists() and not backends.BlobStore.beside(tmp_path / "b.db").root.exists()


async def test_import_into_a_database_that_holds_a_project_is_refused_with_nothing_changed(exported, tmp_path, clock):
    await build_project(Settings(db_path=tmp_path / "b.db", project="other"), clock)
    before = (tmp_path / "b.db").read_bytes()
    blobs_before = sorted(backends.BlobStore.beside(tmp_path / "b.db").shas())

    with pytest.raises(Conflict, match=r"already holds projects \(other\); taskloom import only fills") as refusal:
        await importing.import_archive(Settings(db_path=tmp_path / "b.db"), exported)

    assert "a new SQLite path, or an empty PostgreSQL database" in refusal.value.hint
    assert (tmp_path / "b.db").read_bytes() == before
    assert sorted(backends.BlobStore.beside(tmp_path / "b.db").shas()) == blobs_before


async def cli(*args: str) -> tuple[int, bytes, str]:
    """`taskloom ARGS` in this process (the console script's own `main`, on a thread of its own, as
    it runs its own event loop): exit code, stdout bytes, stderr. Spawning costs 2 s on a busy machine."""
    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err):
        try:
            code = await anyio.to_thread.run_sync(main, list(args))
        except SystemExit as exc:  # argparse's way out
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


async def cli_refused(*args_and_needles: str, needles: tuple[str, ...]) -> None:
    code, _, err = await cli(*args_and_needles)
    assert code == 2, err
    line = err.strip()
    assert line.startswith("taskloom: ") and "\n" not in line and "Traceback" not in err, err
    for needle in needles:
        assert needle in line, line


async def test_the_cli_refuses_bad_paths_and_flags_in_one_line_and_leaves_no_file(exported, tmp_path):
    db = str(tmp_path / "a.db")
    out = tmp_path / "out.tar"
    out.write_bytes(b"mine")
    before = sorted(p.name for p in tmp_path.iterdir())

    await cli_refused("export", "--db", db, "-o", str(out), needles=("conflict:", "already exists", "--force"))
    await cli_refused("export", "--db", db, "-o", str(tmp_path / "no" / "x.tar"), needles=("not_found:", "does not exist"))
    await cli_refused("export", "--db", db, "-o", str(tmp_path), needles=("invalid_input:", "is a directory"))
    await cli_refused("export", "--db", str(tmp_path / "none.db"), "-o", str(tmp_path / "x.tar"), needles=("not_found:",))
    await cli_refused("export", "--db", db, "--project", "nope", "-o", str(tmp_path / "x.tar"),
                      needles=("not_found:", "nope"))
    await cli_refused("export", "--db", db, needles=("invalid_input:", "-o/--output"))
    await cli_refused("import", "--db", str(tmp_path / "c.db"), "--project", "p", str(exported),
                      needles=("invalid_input:", "--project does not apply"))
    damaged = pack(tmp_path / "bad.tar", [("hello.txt", b"hi")])
    await cli_refused("import", "--db", str(tmp_path / "c.db"), str(damaged), needles=("invalid_input:", "not a usable"))
    assert out.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "bad.tar"])

    forced = await cli("export", "--db", db, "-o", str(out), "--force")
    to_stdout = await cli("export", "--db", db, "-o", "-")

    assert forced[0] == 0 and to_stdout[0] == 0, (forced, to_stdout)
    assert out.read_bytes() == exported.read_bytes() == to_stdout[1]
    assert "Exported demo" in to_stdout[2]  # the summary goes to stderr when the archive is on stdout


def test_the_table_list_is_what_the_copy_reads_writes_and_counts():
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    schema = Path(copying.__file__).parents[1] / "store" / "sqlite" / "schema.sql"
    conn.executescript(schema.read_text(encoding="utf-8"))
    conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")

    assert tuple(copying.read_rows(SqliteTx(conn), 1)) == copying.TABLES
    assert tuple(copying.counts(SqliteTx(conn), 1)) == copying.TABLES


def test_a_link_tables_bytes_do_not_depend_on_the_order_its_database_sorts_text():
    """PostgreSQL orders `ORDER BY label` by its collation, SQLite by bytes: the member must not care.
    Tables with ids keep the read order (tasks: parents first), which is numeric on both."""
    links = [{"task_id": 1, "label": "Zeta"}, {"task_id": 1, "label": "alpha"}, {"task_id": 1, "label": "Äpfel"}]
    tasks = [{"id": 2, "depth": 1}, {"id": 1, "depth": 2}]

    assert archive.encode_table(links) == archive.encode_table(links[::-1])
    assert archive.encode_table(tasks) != archive.encode_table(tasks[::-1])
    assert archive.encode_table([{"flag": True, "b": 1.5, "a": None}]) == b'{"a":null,"b":1.5,"flag":1}\n'
