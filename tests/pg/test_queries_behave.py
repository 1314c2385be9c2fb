"""The ported queries answer as SQLite's do, on the same rows: the hard ones by name in
docs/postgres-port.md (waits_closure's recursion, task_full_by_code's JSON lists, json_each
filters, LIKE's case, NULL filters), on a small graph with a cycle, a parent and streams.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from taskloom.domain.statuses import after_attempt
from tests.pg.cluster import Cluster

psycopg = pytest.importorskip("psycopg")
from tests.pg.both import PG_QUERIES, Both  # needs psycopg: skipped above without it

NOW = 1000.0
# code -> (stream, parent, status, role, labels); ids follow the order here, from 1.
TASKS = {
    "T-1": ("S1", None, "done", "dev", ["api"]),
    "T-2": ("S1", None, "waiting", "dev", ["api", "db"]),
    "T-3": ("S2", None, "waiting", None, ["db"]),
    "P-1": (None, None, "waiting", "lead", []),
    "C-1": (None, "P-1", "ready", "dev", ["api"]),
    "C-2": (None, "P-1", "done", None, []),
    "X-1": (None, None, "waiting", None, []),
    "X-2": (None, None, "waiting", None, []),
    "F-1": (None, None, "failed", "dev", []),
    "W-1": (None, None, "waiting", "dev", ["db"]),
}
DEPS = [("T-2", "T-1"), ("X-1", "X-2"), ("X-2", "X-1"), ("W-1", "F-1"), ("T-3", "C-1")]
ID = {code: i for i, code in enumerate(TASKS, start=1)}


def _seed(both: Both) -> None:
    def both_run(query: str, /, **params: object) -> None:
        both.run(query, params)

    both_run("project_insert", name="demo", now=NOW)
    for code in ("S1", "S2"):
        both_run("stream_insert", project=1, code=code, name=code, description="", now=NOW)
    both_run("stream_dep_insert", stream_id=2, depends_on_id=1)
    for code, (stream, parent, status, role, labels) in TASKS.items():
        both_run("task_insert", project=1, code=code, key=f"k-{code}", title=f"title {code}", description="",
                 acceptance="", context="", status=status, priority=2, role=role,
                 stream_id={"S1": 1, "S2": 2}.get(stream), sprint_id=None, parent_id=ID.get(parent),
                 depth=2 if parent else 1, requires_review=code == "T-2", max_attempts=3, rank=ID[code],
                 agent="planner", now=NOW)
        for label in labels:
            both_run("task_label_insert", task_id=ID[code], label=label)
    for task, dep in DEPS:
        both_run("task_dep_insert", task_id=ID[task], depends_on_id=ID[dep])
    for i in range(3):
        both_run("note_insert", task_id=ID["T-2"], kind="note", body=f"note {i}", agent="a", now=NOW + i)
    both.raw("INSERT INTO escalations (task_id, trigger, reason, created_at) VALUES (2, 'blocker', 'stuck', 1001.5)")
    both.raw("INSERT INTO artifacts (project_id, sha256, name, media_type, size, uploaded_at) "
             "VALUES (1, 'ab12', 'out.txt', 'text/plain', 5, 1000.0), (1, 'cd34', 'own.txt', 'text/plain', 7, 1000.0)")
    both.raw("INSERT INTO artifact_links (artifact_id, kind, target_id, linked_at) "
             "VALUES (1, 'task', 1, 1000.0), (2, 'task', 2, 1002.0)")


@pytest.fixture(scope="module")
def both(pg_cluster: Cluster) -> Iterator[Both]:
    b = Both.open(pg_cluster.create_database(f"behave_{uuid.uuid4().hex[:12]}"))
    _seed(b)
    yield b
    b.close()


@pytest.mark.parametrize("anchors", [["T-2"], ["T-3"], ["P-1"], ["X-1"], ["T-3", "P-1"], ["W-1"]])
def test_waits_closure_edges_and_labels_reach_what_sqlite_reaches(both: Both, anchors: list[str]) -> None:
    reached = both.same("waits_closure", {"anchors": json.dumps([ID[a] for a in anchors])}, ordered=False)
    nodes = json.dumps(sorted(r["n"] for r in reached))
    both.same("waits_edges", {"nodes": nodes}, ordered=False)
    both.same("waits_labels", {"nodes": nodes}, ordered=False)
    assert reached, "every anchor here waits on something"


def test_waits_closure_follows_streams_and_ends_on_a_cycle(both: Both) -> None:
    through_stream = {r["n"] for r in both.same("waits_closure", {"anchors": json.dumps([ID["T-3"]])}, ordered=False)}
    assert {-1, ID["T-1"], ID["T-2"], ID["C-1"]} <= through_stream
    cycle = {r["n"] for r in both.same("waits_closure", {"anchors": json.dumps([ID["X-1"]])}, ordered=False)}
    assert cycle == {ID["X-1"], ID["X-2"]}


def test_task_full_by_code_gives_the_same_lists_in_the_same_order(both: Both) -> None:
    [row] = both.same("task_full_by_code", {"project": 1, "code": "T-2", "notes": 2, "artifacts": 5})
    assert row["labels_json"] == ["api", "db"]
    assert [n["body"] for n in row["notes_json"]] == ["note 2", "note 1"]
    assert [a["name"] for a in row["artifacts_json"]] == ["own.txt", "out.txt"]
    assert row["deps_json"][0]["code"] == "T-1" and row["requires_review"] == 1
    [empty] = both.same("task_full_by_code", {"project": 1, "code": "X-1", "notes": 2, "artifacts": 5})
    assert empty["labels_json"] == [] and empty["notes_json"] == [] and empty["artifacts_json"] == []


@pytest.mark.parametrize("params", [
    {},
    {"statuses": json.dumps(["waiting", "ready"])},
    {"role": "dev", "label": "api"},
    {"stream_id": 1, "claimed_by": None},
    {"parent_id": 4},
])
def test_task_list_filters_as_sqlite_does(both: Both, params: dict[str, object]) -> None:
    full = {"project": 1, "statuses": None, "role": None, "stream_id": None, "sprint_id": None, "parent_id": None,
            "claimed_by": None, "label": None, "limit": 50, "offset": 0, **params}
    both.same("task_list", full)
    both.same("task_list_count", full)


@pytest.mark.parametrize("params", [
    {"role": None, "stream_id": None, "labels": "[]", "label_count": 0},
    {"role": "dev", "stream_id": None, "labels": json.dumps(["api"]), "label_count": 1},
    {"role": "nobody", "stream_id": 1, "labels": json.dumps(["api", "db"]), "label_count": 2},
])
def test_claim_filters_pick_and_count_as_sqlite_does(both: Both, params: dict[str, object]) -> None:
    both.same("claim_candidate", {"project": 1, **params})
    both.same("task_open_counts_matching", {"project": 1, **params}, ordered=False)
    both.same("task_waiting_stuck_matching", {"project": 1, **params})


def test_readiness_reads_agree(both: Both) -> None:
    assert both.same("task_children", {"id": ID["P-1"]}) == [{"total": 2, "open": 1, "done": 1}]
    both.same("task_unmet", {"id": ID["T-2"]})
    both.same("task_misfiled", {"project": 1}, ordered=False)
    both.same("task_parents_due", {"project": 1}, ordered=False)
    both.same("stream_task_flags", {"id": 1})
    both.same("stream_dep_codes", {"id": 2})
    both.same("stream_unmet", {"id": 2})
    both.same("task_ref", {"project": 1, "ref": "k-T-3"})
    refs = both.same("tasks_by_refs", {"project": 1, "refs": json.dumps(["T-1", "k-T-3", "nope", "C-2"])}, ordered=False)
    assert sorted(r["code"] for r in refs) == ["C-2", "T-1", "T-3"]
    both.same("task_ready_by_role", {"project": 1}, ordered=False)


def test_code_completion_ignores_ascii_case_as_sqlite_like_does(both: Both) -> None:
    rows = both.same("task_codes_with_prefix", {"project": 1, "pattern": "t-%", "stream_id": None, "limit": 10})
    assert [r["code"] for r in rows] == ["T-1", "T-2", "T-3"]


@pytest.fixture
def fresh(pg_cluster: Cluster) -> Iterator[Both]:
    """A pair of its own for a test that writes."""
    b = Both.open(pg_cluster.create_database(f"behave_{uuid.uuid4().hex[:12]}"))
    _seed(b)
    yield b
    b.close()


def _attempt(task_id: int, attempts: int, *, retry: bool, now: float) -> dict[str, object]:
    """task_fail's and lease_expire's parameters as services/common.py attempt_params makes them."""
    outcome = after_attempt(attempts, 3, retry)
    return {"id": task_id, "attempts": attempts, "max_attempts": 3, "status": outcome.status,
            "new_attempts": outcome.attempts, "clear_claim": outcome.clear_claim,
            "completed_at": now if outcome.stamp == "completed_at" else None,
            "ready_at": now if outcome.stamp == "ready_at" else None, "now": now}


def test_the_work_cycle_writes_answer_as_sqlite_does(fresh: Both) -> None:
    claim = {"project": 1, "agent": "ann", "expires": NOW + 60, "now": NOW, "role": "dev", "stream_id": None,
             "labels": "[]", "label_count": 0}
    [taken] = fresh.same("claim_next", claim)
    assert taken["code"] == "C-1"
    assert fresh.same("claim_next", claim) == []  # nothing else ready for dev
    fresh.same("lease_renew", {"id": taken["id"], "agent": "ann", "expires": NOW + 120})
    fresh.same("task_fail", {**_attempt(taken["id"], 0, retry=True, now=NOW + 1), "agent": "ann", "reason": "flaky"})
    fresh.same("task_by_id", {"id": taken["id"]})
    fresh.same("claim_code", {**claim, "code": "C-1", "now": NOW + 2})
    fresh.same("task_move", {"id": ID["X-2"], "from": "waiting", "to": "in_progress", "reason": None,
                             "clear_claim": False, "lease_expires_at": NOW + 61, "reset_attempts": False,
                             "now": NOW + 2, "summary": None})
    assert [r["code"] for r in fresh.same("task_in_progress", {"project": 1, "limit": 10})] == ["X-2", "C-1"]
    expired, _ = fresh.same("leases_expired", {"project": 1, "now": NOW + 500, "limit": 10})
    assert expired["code"] == "C-1"
    stale = _attempt(taken["id"], 0, retry=True, now=NOW + 500)
    assert fresh.run("lease_expire", stale) == ([], [])  # decided from a stale count: changes nothing
    fresh.same("lease_expire", _attempt(taken["id"], expired["attempts"], retry=True, now=NOW + 500))
    fresh.same("task_by_id", {"id": taken["id"]})
    fresh.same("task_move", {"id": ID["F-1"], "from": "failed", "to": "ready", "reason": None, "clear_claim": True,
                             "lease_expires_at": None, "reset_attempts": True, "now": NOW + 3, "summary": None})
    fresh.same("task_update_fields", {"id": ID["X-1"], "version": 1, "title": None, "description": "d",
                                      "acceptance": None, "priority": 0, "role": "", "set_stream": True,
                                      "stream_id": 2, "set_sprint": False, "sprint_id": None, "max_attempts": None,
                                      "requires_review": True})
    fresh.same("task_by_id", {"id": ID["X-1"]})
    fresh.same("project_next_seq", {"project": 1, "count": 3})
    fresh.same("project_graph_changed", {"project": 1, "exact": True})
    fresh.same("project_by_id", {"project": 1})
    fresh.same("stream_set_status", {"id": 2, "from": "ready", "to": "waiting", "now": NOW})
    fresh.same("stream_by_id", {"id": 2})


def test_a_claim_without_a_role_takes_the_agents_registered_role_as_sqlite_does(fresh: Both) -> None:
    """claim_next looks up the claimer's registered role itself when no role is given, and says
    whether the task it took has a thread."""
    fresh.raw("UPDATE tasks SET status = 'ready' WHERE code IN ('X-1', 'X-2')")
    fresh.raw("UPDATE tasks SET role = 'ops' WHERE code = 'X-1'")
    fresh.run("agent_register", {"project": 1, "name": "ann", "role": "dev", "capabilities": None, "now": NOW})
    fresh.run("agent_register", {"project": 1, "name": "olga", "role": "ops", "capabilities": None, "now": NOW})
    claim = {"project": 1, "expires": NOW + 60, "now": NOW, "role": None, "stream_id": None,
             "labels": "[]", "label_count": 0}
    # Ready: C-1 (dev, rank 5), X-1 (ops, rank 7), X-2 (no role, rank 8); the highest rank goes first.
    fresh.raw("INSERT INTO messages (project_id, sender, recipient, task_id, subject, body, created_at) "
              f"VALUES (1, 'boss', 'task:X-2', {ID['X-2']}, 's', 'b', 1000.0)")
    [first] = fresh.same("claim_next", {**claim, "agent": "ann"})  # registered dev: X-1 (ops) is not for her
    assert (first["code"], first["thread"]) == ("X-2", 1)  # it has a thread for thread_readers_join
    [second] = fresh.same("claim_next", {**claim, "agent": "ann"})
    assert (second["code"], second["thread"]) == ("C-1", 0)
    assert fresh.same("claim_next", {**claim, "agent": "ann"}) == []
    assert fresh.same("claim_next", {**claim, "agent": "ann", "role": "nobody"}) == []  # an unknown role
    [third] = fresh.same("claim_next", {**claim, "agent": "ann", "role": "ops"})  # a role given wins
    assert third["code"] == "X-1"


def test_memory_writes_and_prefix_pages_answer_as_sqlite_does(fresh: Both) -> None:
    for i, key in enumerate(["a/1", "a/2", "ab", "B", "a", "é"]):
        fresh.same("memory_set", {"project": 1, "scope": "project", "key": key, "value": str(i), "expires_at": None,
                                  "now": NOW, "agent": "ann"})
    fresh.same("memory_set", {"project": 1, "scope": "project", "key": "ab", "value": "again", "expires_at": NOW + 5,
                              "now": NOW + 1, "agent": "bob"})
    page = {"project": 1, "scope": "project", "now": NOW + 2, "limit": 10, "offset": 0}
    assert [r["key"] for r in fresh.same("memory_list", {**page, "prefix": "a", "upper": "b"})] == ["a", "a/1", "a/2", "ab"]
    fresh.same("memory_list", {**page, "prefix": "", "upper": None})
    fresh.same("memory_get", {"project": 1, "scope": "project", "key": "ab", "now": NOW + 10})
    fresh.same("memory_purge_expired", {"project": 1, "now": NOW + 10})


def test_a_claim_passes_over_a_task_another_replica_is_taking_instead_of_waiting_for_it(
    fresh: Both, pg_cluster: Cluster
) -> None:
    """SKIP LOCKED: while one transaction holds the best task, a second claimer takes the next one
    at once. Without it the second would queue on that row (here: fail on the lock timeout)."""
    fresh.pg.execute("UPDATE tasks SET status = 'ready' WHERE code IN ('X-1', 'X-2')")
    claim = {"project": 1, "expires": NOW + 60, "now": NOW, "role": None, "stream_id": None,
             "labels": "[]", "label_count": 0}
    sql = PG_QUERIES["claim_next"]
    dsn = fresh.pg.info.dsn
    with psycopg.connect(dsn) as first, psycopg.connect(dsn) as second:
        second.execute("SET lock_timeout = '2s'")
        held = first.execute(sql, {**claim, "agent": "ann"}).fetchone()
        other = second.execute(sql, {**claim, "agent": "bob"}).fetchone()
        first.commit()
        second.commit()
    assert held is not None and other is not None and held[1] != other[1]
