"""The PostgreSQL named queries of coordination, artifacts, runs, dashboard, overview and
reservations answer what the SQLite ones answer, on the same rows (tests/pg/agree.py builds them).

Each read query runs on both with the same parameters: same columns, same rows in the same order,
same Python types (a sum that comes back as Decimal fails here; a flag may be bool where SQLite
gives 0/1, since the services only test its truth). Each write query runs on both inside a
transaction that is rolled back: same row count, same rows after.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from taskloom.domain.globs import name_filter
from taskloom.services.app import Taskloom
from tests.pg.cluster import Cluster

psycopg = pytest.importorskip("psycopg")

from tests.pg.agree import POSTGRES, Both, Ids, add_runs, build, copy, differences


@pytest.fixture
async def both(app: Taskloom, client: Client, pg_cluster: Cluster) -> AsyncIterator[Both]:
    await build(app, client)
    add_runs(app.settings.db_path)
    dsn = pg_cluster.create_database(f"agree_{uuid.uuid4().hex[:12]}")
    copy(app.settings.db_path, dsn)
    pair = Both(app.settings.db_path, dsn)
    try:
        yield pair
    finally:
        pair.close()


def _inbox_cases(i: Ids) -> list[tuple[str, dict[str, Any]]]:
    roles = {"alice": "backend", "bob": "backend", "carol": "reviewer", "dave": None, "erin": None}
    cases = []
    for me, role in roles.items():
        for task_id in (None, i.task["T-1"]):
            for unread_only in (False, True):
                for ids in (None, json.dumps([1, 2, 3, 4, 5, 6, 7, 99])):
                    cases.append(("inbox", {"project": i.project, "me": me, "role": role, "task_id": task_id,
                                            "unread_only": unread_only, "ids": ids, "limit": 50}))
    return cases + [("inbox", {"project": i.project, "me": "alice", "role": "backend", "task_id": None,
                               "unread_only": False, "ids": None, "limit": 1})]


async def test_every_read_query_answers_on_postgresql_what_it_answers_on_sqlite(both: Both) -> None:
    i = Ids(both)
    p = {"project": i.project}
    t1, t2, t6 = i.task["T-1"], i.task["T-2"], i.task["T-6"]
    md_id, md_sha = i.artifact["report.md"]
    feed = {**p, "since": 0, "limit": 500}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("agent_by_name", {**p, "name": "alice"}),
        ("agent_list", {**p, "name": None, "limit": 100}),
        ("agent_list", {**p, "name": "dave", "limit": 1}),
        ("agents_with_role", {**p, "role": "backend"}),
        ("agent_names", p),
        ("agents_in_roles", {**p, "roles": json.dumps(["backend", "reviewer", "nobody"])}),
        ("tasks_held", {**p, "agent": "dave"}),
        ("tasks_held", {**p, "agent": "alice"}),
        ("tasks_claimable", {**p, "role": "backend", "limit": 10}),
        ("tasks_claimable", {**p, "role": None, "limit": 10}),
        ("role_by_slug", {**p, "slug": "backend"}),
        ("role_list", p),
        ("message_by_id", {**p, "id": 6}),
        *_inbox_cases(i),
        ("thread_members", {"task_id": t1}),
        ("tasks_waiting_on_failed", {"id": t2}),
        ("tasks_waiting_on_failed", {"id": t1}),
        ("events_feed", {**feed, "agent": None, "kind": None}),
        ("events_feed", {**feed, "agent": None, "kind": "task"}),
        ("events_feed", {**feed, "agent": "alice", "kind": "message"}),
        ("events_feed", {**feed, "agent": None, "kind": "task.done"}),
        ("events_feed_subject", {**feed, "subject": "T-1", "agent": None, "kind": None}),
        ("events_feed_subject", {**feed, "subject": "T-1", "agent": "carol", "kind": "message"}),
        ("events_latest", {**p, "limit": 5}),
        ("task_pages_showing", {**p, "codes": json.dumps(["T-1", "T-6", "T-404"])}),
        ("task_streams_by_codes", {**p, "codes": json.dumps(["T-1", "T-3", "T-4"])}),
        *[("tasks_needing_decision", {**p, "status": s, "limit": 10}) for s in ("blocked", "failed", "review")],
        ("escalations_open", {**p, "limit": 10}),
        ("artifact_by_sha", {**p, "sha": md_sha}),
        ("artifact_links_of", {"id": i.artifact["Notes.MD"][0]}),
        ("artifact_gc_candidates", {**p, "cutoff": i.now}),
        ("artifact_all_shas", {"except": json.dumps([md_id])}),
        ("artifact_by_prefix", {**p, "prefix": md_sha[:6]}),
        ("artifact_by_prefix", {**p, "prefix": "0"}),
        ("runner_ready_tasks", {**p, "role": None, "limit": 10}),
        ("runner_ready_tasks", {**p, "role": "reviewer", "limit": 10}),
        ("runner_ready_streams", {**p, "role": None, "limit": 10}),
        ("runs_orphan_candidates", {**p, "runner": "r1", "now": 50.0, "host": "h2"}),
        ("runs_live", p),
        ("runs_recent", {**p, "limit": 10}),
        ("run_by_id", {**p, "id": i.run[0]}),
        ("run_latest_of_agent", {**p, "agent": "w1"}),
        ("run_restarts", {**p, "task_id": t2, "stream_id": None}),
        ("run_restarts", {**p, "task_id": None, "stream_id": i.stream["api"]}),
        ("decision_counts", p),
        ("task_status_events", {**p, "code": "T-1", "limit": 50}),
        ("impact_dependents", {"id": t1, "limit": 10}),
        ("impact_other_open_deps", {"id": t1}),
        ("impact_streams_opening", {"stream_id": i.stream["api"]}),
        ("task_thread", {"task_id": t1, "recipient": "task:T-1", "limit": 10}),
        ("task_thread", {"task_id": t6, "recipient": "task:T-6", "limit": 10}),
        ("project_task_counts", {}),
        ("leases_overdue", {**p, "now": i.now + 10_000, "limit": 10}),
        ("reservations_live", {**p, "now": i.now}),
    ]
    scalars: list[tuple[str, dict[str, Any]]] = [
        ("agent_count_others", {**p, "name": "alice"}),
        ("events_last_id", p),
        ("artifact_bytes_used", p),
        ("artifact_list_count", _listing(i)),
        ("impact_dependent_count", {"id": t1}),
        ("impact_transitive_count", {"id": t1}),
        ("stream_open_work", {"stream_id": i.stream["api"], "role": None}),
        ("stream_open_work", {"stream_id": i.stream["api"], "role": "reviewer"}),
    ]
    truths: list[tuple[str, dict[str, Any]]] = [
        ("artifact_sha_held", {"sha": md_sha}),
        ("artifact_sha_held", {"sha": "0" * 64}),
        ("impact_last_open_in_stream", {"stream_id": i.stream["api"], "id": t2}),
        ("impact_last_open_in_stream", {"stream_id": i.stream["web"], "id": i.task["T-3"]}),
        *[("run_worker_acted", {"id": r}) for r in i.run],
    ]
    found = differences(both, cases) + differences(both, scalars, scalar=True) + differences(both, truths, truth=True)
    assert not found, "\n".join(found)
    assert {n for n, _ in cases + scalars + truths} | WRITES | {"artifact_list"} == set(POSTGRES)


def _listing(i: Ids, **filters: Any) -> dict[str, Any]:
    return {"project": i.project, "task_id": None, "stream_id": None, "sprint_id": None, "name_like": None,
            "media_prefix": None, **filters}


async def test_artifact_list_matches_the_same_artifacts_for_every_filter_and_awkward_glob(both: Both) -> None:
    i = Ids(both)
    typed = ["%", "_", "\\", "[2]", "shot [2]*", "*.md", "*.MD", "?", "???.md", "what?.txt", "*", "*%*", "a_b",
             "notes", "zzz"]
    filters = [_listing(i, name_like=name_filter(t)) for t in typed] + [
        _listing(i),
        _listing(i, task_id=i.task["T-1"]),
        _listing(i, stream_id=i.stream["api"]),
        _listing(i, sprint_id=i.sprint),
        _listing(i, media_prefix="text/"),
        _listing(i, media_prefix="image/png"),
        _listing(i, stream_id=i.stream["web"], name_like=name_filter("*.md")),
    ]
    cases = [("artifact_list", {**f, "limit": 50, "offset": 0}) for f in filters]
    cases.append(("artifact_list", {**_listing(i), "limit": 2, "offset": 1}))
    found = differences(both, cases) + differences(both, [("artifact_list_count", f) for f in filters], scalar=True)
    assert not found, "\n".join(found)
    # Not vacuous: the globs do pick different sets.
    lite, _ = both.read("artifact_list", {**filters[0], "limit": 50, "offset": 0})
    assert [r[3] for r in lite[1]] == [("str", "100%.txt")]


WRITES = {
    "agent_register", "agent_touch", "role_upsert", "message_insert", "receipts_mark", "messages_acked",
    "thread_readers_join", "thread_readers_add", "escalation_insert", "blocker_escalations_settle",
    "artifact_insert", "artifact_fill_description", "artifact_link", "artifact_relinked", "artifact_unlink",
    "artifact_mark_unlinked", "artifact_delete", "run_open", "run_spawned", "runs_hold", "run_end", "run_take_over",
    "reservations_purge", "reservation_upsert", "reservation_release", "reservations_release_agent",
    "reservations_release_task", "reservations_renew_task",
}


async def test_every_write_query_changes_the_same_rows_on_postgresql_as_on_sqlite(both: Both) -> None:
    i = Ids(both)
    p, now = {"project": i.project}, i.now
    t1, t4, t6 = i.task["T-1"], i.task["T-4"], i.task["T-6"]
    md_id = i.artifact["report.md"][0]
    gone_id = i.artifact["what?.txt"][0]
    run = {"project": i.project, "runner": "r3", "runner_pid": 42, "runner_started": now, "agent": "w9",
           "preset": "claude", "host": "h1", "now": now, "held_until": now + 30}
    holds = ["file_reservations"]
    # Bob holds two globs, the older renewed: the rows come back in the order they were taken.
    renew = (("reservation_upsert", {**p, "agent": "bob", "glob": "z/**", "exclusive": True, "task_id": t1,
                                     "reason": None, "ttl_seconds": 60, "now": now, "expires_at": now + 60}),
             ("reservation_upsert", {**p, "agent": "bob", "glob": "docs/*.md", "exclusive": True, "task_id": t1,
                                     "reason": None, "ttl_seconds": 60, "now": now, "expires_at": now + 60}))
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("agent_register", {**p, "name": "erin", "role": None, "capabilities": None, "now": now}, ["agents"]),
        ("agent_register", {**p, "name": "alice", "role": None, "capabilities": '["sql"]', "now": now}, ["agents"]),
        ("agent_register", {**p, "name": "alice", "role": "lead", "capabilities": None, "now": 1.0}, ["agents"]),
        ("agent_touch", {**p, "name": "bob", "now": now}, ["agents"]),
        ("agent_touch", {**p, "name": "new", "now": now}, ["agents"]),
        ("role_upsert", {**p, "slug": "backend", "name": "B", "definition": "d", "when_to_use": "w",
                         "instructions": "i", "now": now}, ["roles"]),
        ("message_insert", {**p, "sender": "bob", "recipient": "task:T-4", "task_id": t4, "kind": "message",
                            "subject": "s", "body": "b", "ack_required": True, "reply_to": None, "now": now},
         ["messages"]),
        *[("receipts_mark", {**p, "me": me, "ids": json.dumps(ids), "ack": ack, "now": now}, ["message_receipts"])
          for me in ("bob", "carol") for ids in ([1, 2, 3], [5, 99]) for ack in (False, True)],
        ("messages_acked", {**p, "ids": json.dumps([1, 2, 4]), "now": now}, ["messages"]),
        ("thread_readers_join", {"task_id": t1, "agent": "erin"}, ["thread_readers"]),
        ("thread_readers_join", {"task_id": t1, "agent": "alice"}, ["thread_readers"]),
        ("thread_readers_join", {"task_id": i.task["T-5"], "agent": "erin"}, ["thread_readers"]),
        ("thread_readers_add", {"task_id": t4, "sender": None}, ["thread_readers"]),
        ("thread_readers_add", {"task_id": t1, "sender": "erin"}, ["thread_readers"]),
        ("escalation_insert", {"task_id": t6, "trigger": "blocker", "reason": "r", "message_id": None, "now": now},
         ["escalations"]),
        ("blocker_escalations_settle", {"task_id": t6, "now": now}, ["messages"]),
        ("artifact_insert", {**p, "sha": "f" * 64, "name": "n.md", "media_type": "text/markdown", "size": 3,
                             "description": None, "agent": "bob", "now": now}, ["artifacts"]),
        ("artifact_fill_description", {"id": md_id, "description": "filled"}, ["artifacts"]),
        ("artifact_link", {"id": md_id, "kind": "task", "target": t1, "agent": "bob", "now": now}, ["artifact_links"]),
        ("artifact_link", {"id": md_id, "kind": "task", "target": t4, "agent": "bob", "now": now}, ["artifact_links"]),
        ("artifact_relinked", {"id": gone_id}, ["artifacts"]),
        ("artifact_unlink", {"id": md_id, "kind": "task", "target": t1}, ["artifact_links"]),
        ("artifact_mark_unlinked", {"id": md_id, "now": now}, ["artifacts"]),
        ("artifact_delete", {"id": gone_id}, ["artifacts"]),
        ("run_open", {**run, "task_id": i.task["T-2"], "stream_id": None}, ["runs"]),
        ("run_open", {**run, "task_id": i.task["T-5"], "stream_id": None}, ["runs"]),
        ("run_open", {**run, "task_id": None, "stream_id": i.stream["api"]}, ["runs"]),
        ("run_spawned", {"id": i.run[1], "pid": 7, "pid_started": now, "argv": '["x"]', "log_path": "l"}, ["runs"]),
        ("runs_hold", {"runner": "r1", "held_until": now + 60}, ["runs"]),
        ("run_end", {"id": i.run[1], "now": now, "exit_code": -9, "outcome": "killed", "reason": None,
                     "cost_usd": None, "turns": 3}, ["runs"]),
        ("run_end", {"id": i.run[0], "now": now, "exit_code": 0, "outcome": "done", "reason": None,
                     "cost_usd": 0.5, "turns": None}, ["runs"]),
        ("run_take_over", {"id": i.run[1], "was": "r1", "runner": "r3", "runner_pid": 5, "runner_started": now,
                           "held_until": now + 9}, ["runs"]),
        ("run_take_over", {"id": i.run[1], "was": "r2", "runner": "r3", "runner_pid": 5, "runner_started": now,
                           "held_until": now + 9}, ["runs"]),
        ("reservations_purge", {**p, "now": now + 100}, holds),
        ("reservation_upsert", {**p, "agent": "bob", "glob": "docs/*.md", "exclusive": True, "task_id": None,
                                "reason": "again", "ttl_seconds": 30.0, "now": now, "expires_at": now + 30}, holds),
        ("reservation_upsert", {**p, "agent": "carol", "glob": "x/**", "exclusive": False, "task_id": t4,
                                "reason": None, "ttl_seconds": 10, "now": now, "expires_at": now + 10}, holds),
        ("reservation_release", {**p, "agent": "bob", "glob": "docs/*.md"}, holds),
        ("reservations_release_agent", {**p, "agent": "alice"}, holds),
        ("reservations_release_task", {"task_id": t1}, holds),
        ("reservations_renew_task", {"task_id": t1, "now": now}, holds),
    ]
    assert {c[0] for c in cases} == WRITES
    found = []
    for name, params, tables in cases:
        lite, pg = both.write(name, params, tables)
        if lite != pg:
            found.append(f"{name} {params}:\n  sqlite   {lite}\n  postgres {pg}")
    for name, params in [("reservations_release_agent", {**p, "agent": "bob"}),
                         ("reservations_release_task", {"task_id": t1})]:
        lite, pg = both.write(name, params, holds, before=renew)
        assert len(lite[0][1]) == 2
        if lite != pg:
            found.append(f"{name} {params}:\n  sqlite   {lite}\n  postgres {pg}")
    assert not found, "\n".join(found)


async def test_receipts_mark_given_an_id_twice_marks_it_once_where_a_plain_upsert_would_fail(both: Both) -> None:
    """PostgreSQL refuses an upsert that touches one row twice; SQLite just applies it twice."""
    params = {"project": Ids(both).project, "me": "carol", "ids": "[1, 2, 2, 1]", "ack": True, "now": 5.0}
    lite, pg = both.write("receipts_mark", params, ["message_receipts"])
    assert lite[2:] == pg[2:]
    assert (lite[1], pg[1]) == (4, 2)  # SQLite counts each upsert; nothing reads the count
