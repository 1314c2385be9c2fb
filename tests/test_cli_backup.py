"""`taskloom backup FILE`: a consistent copy of a live SQLite database, made while other processes
write to it, checked before it is put in place; and on PostgreSQL, a pointer to pg_dump."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taskloom.config import Settings
from taskloom.errors import Storage
from taskloom.store import backends
from taskloom.store.sqlite import backup
from tests.backup_writer import DESCRIPTION, LABELS
from tests.test_cli_archive import cli, cli_refused
from tests.test_cli_copy import BLOB, PROJECT, build_project

ROOT = Path(__file__).parents[1]
WRITERS = 2


def tasks(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM tasks").fetchone()[0]


def start_writer(db: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.backup_writer", str(db), PROJECT, name], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_a_backup_taken_while_two_processes_write_is_whole_checked_and_a_prefix(tmp_path, clock):
    db = tmp_path / "live.db"
    await build_project(Settings(db_path=db, project=PROJECT), clock)  # an artifact and its bytes
    writers = [start_writer(db, f"w{i}") for i in range(WRITERS)]
    try:
        for w in writers:
            assert w.stdout is not None
            assert w.stdout.readline().strip() == "ready", w.stderr.read() if w.stderr else ""
        before = tasks(db)

        code, out, err = await cli("backup", "--db", str(db), str(tmp_path / "copy.db"), "--json")
        after = tasks(db)
        assert all(w.poll() is None for w in writers), "a writer stopped while the backup ran"
    finally:
        for w in writers:
            w.terminate()
            w.communicate(timeout=30)  # and closes its pipes

    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if "copy" in p.name) == ["copy.db", "copy.db-artifacts"]
    report = json.loads(out)
    assert report["integrity"] == "ok" and report["blobs"] == 1 and report["blob_bytes"] == len(BLOB)
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
    held = copy.execute("SELECT count(*) FROM tasks").fetchone()[0]
    assert before <= held <= after and after > before, (before, held, after)
    # Every task the copy holds is whole: its labels and description were written with it.
    written = copy.execute("SELECT id, description FROM tasks WHERE title LIKE 'w%'").fetchall()
    labels = dict(copy.execute("SELECT task_id, group_concat(label, ',') FROM task_labels GROUP BY task_id"))
    assert written and all(d == DESCRIPTION and sorted(labels[i].split(",")) == LABELS for i, d in written)
    (sha,) = [r[0] for r in copy.execute("SELECT sha256 FROM artifacts")]
    assert backends.BlobStore.beside(tmp_path / "copy.db").read(sha) == BLOB


async def test_bad_paths_are_refused_in_one_line_and_force_replaces(tmp_path, clock):
    db = tmp_path / "a.db"
    await build_project(Settings(db_path=db, project=PROJECT), clock)
    mine = tmp_path / "mine.db"
    mine.write_bytes(b"mine")

    await cli_refused("backup", "--db", str(db), str(mine), needles=("conflict:", "already exists", "--force"))
    await cli_refused("backup", "--db", str(db), str(tmp_path / "no" / "b.db"), needles=("not_found:", "does not exist"))
    await cli_refused("backup", "--db", str(tmp_path / "none.db"), str(tmp_path / "b.db"), needles=("not_found:",))
    await cli_refused("backup", "--db", str(db), str(db), needles=("invalid_input:", "the database itself"))
    await cli_refused("backup", "--db", str(db), str(tmp_path), needles=("invalid_input:", "is a directory"))
    Path(f"{mine}-wal").write_bytes(b"")
    await cli_refused("backup", "--db", str(db), str(mine), "--force", needles=("conflict:", "mine.db-wal exists"))
    Path(f"{mine}-wal").unlink()
    assert mine.read_bytes() == b"mine" and not (tmp_path / "b.db").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    code, out, err = await cli("backup", "--db", str(db), str(mine), "--force")

    assert code == 0, err
    assert b"integrity check: ok" in out
    assert sqlite3.connect(mine).execute("SELECT name FROM projects").fetchall() == [(PROJECT,)]


async def test_on_postgresql_it_says_to_use_pg_dump_without_the_password(tmp_path):
    url = "postgresql://olivia:s3cret@db.example:5433/team"

    await cli_refused("backup", "--db", url, str(tmp_path / "b.dump"),
                      needles=("unsupported:", "pg_dump --format=custom", "postgresql://olivia@db.example:5433/team",
                               "taskloom export"))
    code, _, err = await cli("backup", "--db", url, str(tmp_path / "b.dump"))
    assert code == 2 and "s3cret" not in err and not (tmp_path / "b.dump").exists()
    code, _, err = await cli("backup", "--db", "postgresql://db.example/team?user=olivia&password=s3cret&sslmode=require",
                             str(tmp_path / "b.dump"))
    assert code == 2 and "s3cret" not in err and "'postgresql://db.example/team?user=olivia&sslmode=require'" in err


def test_a_copy_that_fails_its_checks_is_not_put_in_place(tmp_path):
    db = tmp_path / "a.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("CREATE INDEX t_x ON t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"row {i:06}",) for i in range(5000)])
    conn.commit()
    conn.close()
    # Damage the last page (a b-tree page of the table or its index): the online backup copies pages as
    # they are, so the copy has the damage too, and only its integrity check can tell.
    data = bytearray(db.read_bytes())
    data[-4096 + 200:-4096 + 400] = b"\xff" * 200
    db.write_bytes(bytes(data))

    with pytest.raises(Storage, match="failed its checks: integrity check"):
        backup.backup(db, tmp_path / "b.db")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db"]
