"""The command line on broken, wrong or unexpected database files, run as a person would: the
console script as a subprocess on real files damaged on purpose. Every failure is one line that
names the file, the cause and what to do; nothing draws a board over tables it could not read."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.models import TaskSpec
from taskloom.services import creation, work
from taskloom.services.app import Taskloom
from tests.faults.damage import damage_header, damage_table
from tests.test_cli import refused, taskloom

PROJECT = "alpha"
PLAN = "tasks:\n  - {code: P-1, title: planned}\n"


async def finished_project(db: Path, n: int = 8, clock: ManualClock | None = None) -> None:
    """`n` tasks, all done: the board a damaged file used to draw, green."""
    app = await Taskloom.open(Settings(db_path=db, project=PROJECT, default_agent="a"), clock)
    try:
        await app.write(creation.create_tasks, [TaskSpec(title=f"t{i}", code=f"T-{i}") for i in range(n)])
        for i in range(n):
            await app.write(work.claim, code=f"T-{i}", agent="a")
            await app.write(work.done, f"T-{i}", summary="ok", agent="a")
    finally:
        await app.close()


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------- item 8: broken and wrong files


async def _wrong_file(tmp_path: Path, kind: str) -> Path:
    if kind == "directory":
        (tmp_path / "data").mkdir()
        return tmp_path / "data"
    if kind == "not a database":
        path = tmp_path / "plan.yaml"
        path.write_text("tasks: []\n" * 50, encoding="utf-8")
        return path
    db = tmp_path / "t.db"
    await finished_project(db)
    if kind == "corrupt header":
        damage_header(db)
    else:
        damage_table(db, kind.removeprefix("corrupt page in "))
    return db


KINDS = ["directory", "not a database", "corrupt header", "corrupt page in tasks", "corrupt page in projects"]
COMMANDS = [("status", "--project", PROJECT), ("import", "PLAN"), ("artifacts", "ls"), ("serve",)]
CAUSES = {
    "directory": "is a directory",
    "not a database": "is not a SQLite database",
    "corrupt header": "is not a SQLite database",
    "corrupt page in tasks": "is damaged",
    "corrupt page in projects": "is damaged",
}


@pytest.mark.parametrize("kind", KINDS)
async def test_every_command_on_a_broken_or_wrong_file_says_which_file_why_and_what_to_do(tmp_path, kind):
    db = await _wrong_file(tmp_path, kind)
    (tmp_path / "plan.yml").write_text(PLAN, encoding="utf-8")
    for command in COMMANDS:
        args = [str(tmp_path / "plan.yml") if a == "PLAN" else a for a in command]
        run = taskloom(*args, "--db", str(db), cwd=tmp_path)
        refused(run, "storage:", str(db), CAUSES[kind], "Next:")
        assert run.stdout == "", f"{command} drew output over a file it could not read: {run.stdout}"


async def test_status_over_a_corrupt_tasks_page_draws_no_board(tmp_path):
    db = tmp_path / "t.db"
    await finished_project(db)
    assert "8/8 closed" in taskloom("status", "--db", str(db), "--project", PROJECT).stdout
    damage_table(db, "tasks")
    run = taskloom("status", "--db", str(db), "--project", PROJECT)
    refused(run, "storage:", "damaged", f"taskloom check --db {db}")
    assert "closed" not in run.stdout


async def test_check_reports_a_healthy_file_its_schema_version_size_and_journal_mode(tmp_path):
    db = tmp_path / "t.db"
    await finished_project(db)
    run = taskloom("check", "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] and report["problems"] == []
    assert report["integrity"] == ["ok"] and report["foreign_keys"] == []
    assert report["schema_version"] == report["expected_schema_version"] == rows(db, "PRAGMA user_version")[0][0]
    assert report["journal_mode"] == "wal" and report["size_bytes"] >= db.stat().st_size
    text = taskloom("check", "--db", str(db))
    assert text.returncode == 0 and "All checks passed." in text.stdout and "(current)" in text.stdout


@pytest.mark.parametrize("kind", ["not a database", "corrupt header", "corrupt page in tasks"])
async def test_check_fails_a_damaged_file_and_says_what_it_found(tmp_path, kind):
    db = await _wrong_file(tmp_path, kind)
    run = taskloom("check", "--db", str(db), "--json")
    assert run.returncode == 1, run
    report = json.loads(run.stdout)
    assert not report["ok"] and report["problems"]
    text = taskloom("check", "--db", str(db))
    assert text.returncode == 1 and "PROBLEMS:" in text.stdout and "backup" in text.stdout
    assert "Traceback" not in text.stderr


async def test_check_finds_a_row_pointing_at_nothing(tmp_path):
    db = tmp_path / "t.db"
    await finished_project(db, n=1)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE tasks SET project_id = 999")
    conn.close()
    report = json.loads(taskloom("check", "--db", str(db), "--json").stdout)
    assert not report["ok"] and any("tasks row" in f for f in report["foreign_keys"])


async def test_damage_inside_an_index_is_listed_by_check_one_problem_a_line_and_refused_by_status(tmp_path):
    db = tmp_path / "t.db"
    await finished_project(db)
    damage_table(db, "tasks_claim_order", tail=True)
    run = taskloom("check", "--db", str(db), "--json")
    assert run.returncode == 1
    found = json.loads(run.stdout)["integrity"]
    assert any("missing from index tasks_claim_order" in line for line in found)
    assert all("\n" not in line and not line.startswith("***") for line in found)
    refused(taskloom("status", "--db", str(db), "--project", PROJECT), "storage:", "failed its quick check")


def test_check_of_a_missing_file_creates_nothing(tmp_path):
    refused(taskloom("check", "--db", str(tmp_path / "nope.db")), "not_found", "nope.db")
    assert not (tmp_path / "nope.db").exists()


async def test_a_sqlite_database_that_is_not_taskloom_s_is_left_untouched(tmp_path):
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    refused(taskloom("import", "--db", str(db), str(tmp_path / "x.yml")), "storage:", "not a taskloom one")
    assert rows(db, "SELECT name FROM sqlite_master") == [("invoices",)]


# ---------------------------------------------------------------- item 9: the wrong directory


async def test_status_in_another_directory_names_the_projects_there_and_creates_none(tmp_path):
    db = tmp_path / "t.db"
    await finished_project(db)
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    run = taskloom("status", "--db", str(db), cwd=elsewhere, env={"TASKLOOM_PROJECT": ""})
    refused(run, "not_found", "'somewhere-else'", "alpha (8 tasks)", "--project NAME", "TASKLOOM_PROJECT")
    assert rows(db, "SELECT name FROM projects") == [(PROJECT,)]
    assert "8/8 closed" in taskloom("status", "--db", str(db), cwd=elsewhere, env={"TASKLOOM_PROJECT": PROJECT}).stdout


async def test_projects_lists_each_project_with_its_tasks_per_status(tmp_path):
    db = tmp_path / "t.db"
    await finished_project(db, n=3)
    app = await Taskloom.open(Settings(db_path=db, project="beta"))
    await app.write(creation.create_tasks, [TaskSpec(title="b", code="B-1")])
    await app.close()
    (tmp_path / "empty").mkdir()
    run = taskloom("projects", "--db", str(db), "--json", cwd=tmp_path / "empty")
    assert run.returncode == 0, run.stderr
    found = {p["name"]: (p["counts"], p["total"]) for p in json.loads(run.stdout)["projects"]}
    assert found == {"alpha": ({"done": 3}, 3), "beta": ({"ready": 1}, 1)}
    text = taskloom("projects", "--db", str(db)).stdout
    assert "alpha" in text and "done 3" in text and "ready 1" in text
    assert rows(db, "SELECT count(*) FROM projects") == [(2,)]


# ---------------------------------------------------------------- item 10: leases with no server


async def _dead_agents_claim(db: Path) -> None:
    """bob claimed T-1 an hour ago with a 60 s lease, and died; no server has run since."""
    clock = ManualClock(time.time() - 3600)
    app = await Taskloom.open(Settings(db_path=db, project=PROJECT, lease_seconds=60.0), clock)
    try:
        await app.write(creation.create_tasks, [TaskSpec(title="the work", code="T-1")])
        await app.write(work.claim, code="T-1", agent="bob")
    finally:
        await app.close()


async def test_status_shows_an_overdue_lease_as_expired_without_writing(tmp_path):
    db = tmp_path / "t.db"
    await _dead_agents_claim(db)
    before = rows(db, "SELECT * FROM tasks"), rows(db, "SELECT count(*) FROM events")
    run = taskloom("status", "--db", str(db), "--project", PROJECT)
    assert run.returncode == 0, run.stderr
    assert "lease expired 59m ago" in run.stdout
    leases = json.loads(taskloom("status", "--db", str(db), "--project", PROJECT, "--json").stdout)["expired_leases"]
    assert [(x["code"], x["claimed_by"]) for x in leases] == [("T-1", "bob")]
    assert 3500 < leases[0]["seconds_ago"] < 3600 + 60
    assert (rows(db, "SELECT * FROM tasks"), rows(db, "SELECT count(*) FROM events")) == before


@pytest.mark.parametrize("command", ["import", "artifacts put"])
async def test_a_command_that_writes_expires_overdue_leases_first(tmp_path, command):
    db = tmp_path / "t.db"
    await _dead_agents_claim(db)
    (tmp_path / "plan.yml").write_text(PLAN, encoding="utf-8")
    args = ["import", str(tmp_path / "plan.yml")] if command == "import" else ["artifacts", "put", "plan.yml"]
    run = taskloom(*args, "--db", str(db), "--project", PROJECT, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert rows(db, "SELECT status, attempts, claimed_by FROM tasks WHERE code = 'T-1'") == [("ready", 1, None)]
    assert "lease expired" not in taskloom("status", "--db", str(db), "--project", PROJECT).stdout


# ---------------------------------------------------------------- item 16b: the path in a hint


@pytest.mark.parametrize("where", ["sub", "/"])
async def test_a_missing_relative_file_names_the_directory_it_was_looked_for_in(tmp_path, where):
    db = tmp_path / "t.db"
    await finished_project(db, n=1)
    cwd = Path("/") if where == "/" else tmp_path / where
    cwd.mkdir(exist_ok=True)
    run = taskloom("artifacts", "put", "no-such-plan.md", "--db", str(db), "--project", PROJECT, cwd=cwd)
    refused(run, "not_found", "No file at no-such-plan.md.", f"relative paths start at {cwd}.")
