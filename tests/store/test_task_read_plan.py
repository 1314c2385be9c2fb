"""The task read (task_get, task_claim) finds a task's artifact links by target, not by kind.

The links of every task share the kind 'task', so a plan that searches `artifact_links` on kind
alone reads every task link of the database on each task read: a cost that grows with the
project and that no small test would notice in time. SQLite's own plan says which it does.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from taskloom.store.sqlite.store import QUERIES

PARAMS = {"project": 1, "code": "T-1", "notes": 5, "artifacts": 10}


def _plan(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + QUERIES["task_full_by_code"], PARAMS)]
    finally:
        conn.close()


def test_every_search_of_artifact_links_in_a_task_read_names_its_target(sqlite_template: Path, tmp_path: Path) -> None:
    db = tmp_path / "plan.db"
    shutil.copyfile(sqlite_template, db)
    searches = [step for step in _plan(db) if " l USING " in step and "artifact_links" in step]
    assert searches, "the task read no longer reads artifact_links: update this test"
    assert all("target_id=?" in step for step in searches), searches
