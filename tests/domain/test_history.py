"""Spans from events, pure: which kinds enter which status, and what creation started as."""

from __future__ import annotations

import pytest

from taskloom.domain.events import EventKind
from taskloom.domain.history import Move, entered, spans
from taskloom.domain.statuses import TaskStatus

K = EventKind


def mv(at: float, kind: str, agent: str | None = "a", **payload) -> Move:
    return Move(at, kind, agent, payload)


@pytest.mark.parametrize(
    ("kind", "payload", "status"),
    [
        (K.TASK_CLAIMED, {}, "in_progress"),
        (K.TASK_RETRY, {"reason": "x"}, "ready"),
        (K.TASK_RELEASED, {}, "ready"),
        (K.LEASE_EXPIRED, {"status": "ready"}, "ready"),
        (K.LEASE_EXPIRED, {"status": "failed"}, "failed"),
        *((K.task_moved(s), {}, s.value) for s in TaskStatus),
        (K.LEASE_EXPIRED, {}, None),  # a payload that names no status moves nothing it can tell
        (K.LEASE_EXPIRED, {"status": "lost"}, None),
        (K.LEASE_RENEWED, {}, None),
        (K.TASK_UPDATED, {}, None),
        (K.TASK_ESCALATED, {}, None),
        (K.TASK_CONTEXT, {}, None),
        (K.TASK_CREATED, {}, None),
        ("task.archived", {}, None),  # a kind a newer version wrote
    ],
)
def test_each_kind_enters_the_status_its_change_made(kind, payload, status):
    assert entered(mv(0, kind, **payload)) == status


def test_creation_is_read_from_the_payload_when_it_names_a_status():
    got = spans([mv(0, K.TASK_CREATED, status="backlog"), mv(5, K.TASK_CANCELLED)], "cancelled")
    assert [(s.status, s.entered_at, s.left_at) for s in got] == [("backlog", 0, 5), ("cancelled", 5, None)]


@pytest.mark.parametrize(
    ("later", "current", "first"),
    [
        ([], "backlog", "backlog"),  # never moved: as it is now
        ([], "waiting", "waiting"),
        ([K.TASK_WAITING], "waiting", "backlog"),  # only backlog moves into waiting first
        ([K.TASK_READY], "ready", "waiting"),
        ([K.TASK_BLOCKED], "blocked", "waiting"),
        ([K.TASK_DONE], "done", "waiting"),
    ],
)
def test_a_creation_without_a_status_is_told_by_the_next_move(later, current, first):
    moves = [mv(0, K.TASK_CREATED), *(mv(i + 1, k) for i, k in enumerate(later))]
    assert spans(moves, current)[0].status == first


def test_a_repeated_status_starts_no_new_span_and_other_events_are_ignored():
    moves = [
        mv(0, K.TASK_READY, "r"),
        mv(1, K.TASK_CLAIMED, "alice"),
        mv(2, K.LEASE_RENEWED, "alice"),
        mv(3, K.TASK_UPDATED, "boss"),
        mv(4, K.LEASE_EXPIRED, "taskloom", status="failed"),
        mv(4, K.TASK_FAILED, "taskloom"),
    ]
    got = spans(moves, "failed")
    assert [(s.status, s.entered_at, s.left_at, s.agent) for s in got] == [
        ("ready", 0, 1, "r"), ("in_progress", 1, 4, "alice"), ("failed", 4, None, "taskloom")
    ]


def test_no_events_no_spans():
    assert spans([], "waiting") == []
