"""Event kinds and what each touches: the rules push and the waits read, free of MCP and SQL."""

from __future__ import annotations

import typing

import pytest

from taskloom.domain.events import (
    CLAIM_WAKE,
    INBOX_WAKE,
    RESOLVER_WAKE,
    Change,
    EventKind,
    Reach,
    kind_of,
    touched,
)
from taskloom.domain.statuses import StreamStatus, TaskStatus
from taskloom.models.work import NoteKind


def change(kind: EventKind, subject: str, agent: str | None = "ann") -> Change:
    return Change(1, kind, subject, agent)


def test_every_status_move_and_note_kind_the_services_write_is_a_known_kind():
    assert {EventKind.task_moved(s) for s in TaskStatus} <= set(EventKind)
    assert {EventKind.stream_moved(s) for s in StreamStatus} <= set(EventKind)
    assert {EventKind.note_added(k) for k in typing.get_args(NoteKind)} <= set(EventKind)
    assert EventKind.sent("message") is EventKind.MESSAGE_SENT
    assert EventKind.sent("escalation") is EventKind.ESCALATION_SENT
    with pytest.raises(ValueError):
        EventKind.task_moved("teleported")


def test_a_kind_this_version_does_not_know_is_skipped_not_an_error():
    assert kind_of("task.done") is EventKind.TASK_DONE
    assert kind_of("task.from_the_future") is None


def test_task_note_and_lease_events_touch_their_task_and_a_claim_the_holders_inbox():
    found = touched(
        [
            change(EventKind.TASK_DONE, "T-1"),
            change(EventKind.NOTE_DECISION, "T-2"),
            change(EventKind.LEASE_EXPIRED, "T-3", agent="taskloom"),
            change(EventKind.TASK_CLAIMED, "T-4", agent="bob"),
        ]
    )
    assert found.tasks == {"T-1", "T-2", "T-3", "T-4"}
    assert found.inboxes == {"bob"}
    assert not found.every_inbox


def test_messages_touch_the_inboxes_they_reach():
    direct = touched([change(EventKind.MESSAGE_SENT, "agent:bob")])
    role = touched([change(EventKind.MESSAGE_SENT, "role:backend")])
    thread = touched([change(EventKind.MESSAGE_SENT, "task:T-1")])
    everyone = touched([change(EventKind.MESSAGE_SENT, "all")])
    escalation = touched([change(EventKind.ESCALATION_SENT, "role:orchestrator")])
    assert direct.inboxes == {"bob"} and not direct.every_inbox
    assert role.roles == {"backend"} and not role.every_inbox
    assert thread.every_inbox and everyone.every_inbox
    assert escalation.every_inbox  # escalations also reach the task's creator


def test_receipts_links_agents_and_streams_touch_what_their_subject_names():
    found = touched(
        [
            change(EventKind.MESSAGE_ACKED, "agent:carol"),
            change(EventKind.AGENT_INIT, "dave"),
            change(EventKind.ARTIFACT_LINKED, "task:T-9"),
            change(EventKind.ARTIFACT_LINKED, "stream:api"),
            change(EventKind.STREAM_READY, "api"),
            change(EventKind.MEMORY_SET, "decisions/db"),
        ]
    )
    assert found.inboxes == {"carol", "dave"}
    assert found.tasks == {"T-9"}
    assert found.streams == {"api"}


def test_every_kind_has_one_reach_and_the_wake_sets_hold_only_known_kinds():
    assert {k.reach for k in EventKind} <= set(Reach)
    assert EventKind.MEMORY_SET.reach is Reach.NOTHING
    for wake in (CLAIM_WAKE, INBOX_WAKE, RESOLVER_WAKE):
        assert wake <= set(EventKind)
    # A task becoming claimable, or the project finishing, must wake a waiting claim.
    assert {EventKind.TASK_READY, EventKind.LEASE_EXPIRED, EventKind.TASK_DONE} <= CLAIM_WAKE
