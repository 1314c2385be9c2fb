"""The task transition table: every move is checked in one place and a refusal names the allowed moves."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskloom.domain.statuses import (
    MANUAL_TARGETS,
    OPEN,
    SATISFIED,
    TERMINAL,
    TRANSITIONS,
    Attempt,
    TaskStatus,
    after_attempt,
    check_transition,
    finish_status,
)
from taskloom.errors import InvalidTransition, TaskloomError

S = TaskStatus

# The table as the product defines it, written out independently of the code under test.
EXPECTED: dict[str, set[str]] = {
    "backlog": {"waiting", "cancelled"},
    "waiting": {"ready", "backlog", "blocked", "cancelled", "done"},
    "ready": {"in_progress", "waiting", "backlog", "blocked", "cancelled", "done"},
    "in_progress": {"done", "review", "failed", "ready", "waiting", "blocked", "cancelled"},
    "review": {"done", "waiting", "cancelled"},
    "blocked": {"in_progress", "waiting", "cancelled"},
    "failed": {"waiting", "cancelled"},
    "done": set(),
    "cancelled": set(),
}

ALL_PAIRS = list(itertools.product([s.value for s in S], repeat=2))
ALLOWED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b in EXPECTED[a]]
REFUSED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b not in EXPECTED[a]]


def test_the_table_covers_every_status_and_matches_the_specification():
    assert {s.value for s in S} == set(EXPECTED)
    assert {str(k): {str(v) for v in vs} for k, vs in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS)
def test_an_allowed_transition_passes_silently(current, target):
    assert check_transition("T-1", current, target) is None
    assert check_transition("T-1", S(current), S(target)) is None


@pytest.mark.parametrize(("current", "target"), REFUSED_PAIRS)
def test_a_refused_transition_raises_invalid_transition_naming_the_allowed_moves(current, target):
    with pytest.raises(InvalidTransition) as caught:
        check_transition("T-7", current, target)
    err = caught.value
    assert err.code == "invalid_transition"
    assert f"T-7 cannot go from {current} to {target}" in err.message
    allowed = sorted(EXPECTED[current])
    if allowed:
        assert f"Allowed from {current}: {', '.join(allowed)}." in err.message
    assert err.details == {"task": "T-7", "from": current, "to": target, "allowed": allowed}


@pytest.mark.parametrize("terminal", ["done", "cancelled"])
def test_terminal_statuses_allow_no_move_at_all(terminal):
    for target in S:
        with pytest.raises(InvalidTransition) as caught:
            check_transition("T-1", terminal, target)
        assert caught.value.details["allowed"] == []
        assert "none: it is final" in caught.value.message


def test_a_task_cannot_stay_in_its_own_status_by_transition():
    for status in S:
        with pytest.raises(InvalidTransition):
            check_transition("T-1", status, status)


def test_an_unknown_status_is_not_accepted_as_a_transition():
    with pytest.raises(ValueError):
        check_transition("T-1", "ready", "finished")
    with pytest.raises(ValueError):
        check_transition("T-1", "limbo", "ready")


def test_invalid_transition_is_a_recoverable_taskloom_error_whose_text_starts_with_its_code():
    with pytest.raises(TaskloomError) as caught:
        check_transition("T-3", "failed", "ready")
    assert caught.value.recoverable
    assert str(caught.value).startswith("invalid_transition: Task T-3 cannot go from failed to ready.")
    assert "Allowed from failed: cancelled, waiting." in str(caught.value)


def test_done_and_cancelled_satisfy_dependencies_and_failed_does_not():
    assert SATISFIED == {S.DONE, S.CANCELLED}
    assert TERMINAL == {S.DONE, S.CANCELLED}
    assert S.FAILED in OPEN
    assert OPEN == set(S) - {S.DONE, S.CANCELLED}


def test_only_backlog_ready_cancelled_done_and_blocked_are_set_by_hand():
    assert MANUAL_TARGETS == {S.BACKLOG, S.READY, S.CANCELLED, S.DONE, S.BLOCKED}


def test_a_finished_task_goes_to_review_only_when_it_asks_for_one():
    assert finish_status(requires_review=True) is S.REVIEW
    assert finish_status(requires_review=False) is S.DONE
    assert {S.REVIEW, S.DONE} <= TRANSITIONS[S.IN_PROGRESS]


def test_a_retried_attempt_puts_the_task_back_in_the_queue_unclaimed():
    assert after_attempt(attempts=0, max_attempts=3, retry=True) == Attempt(
        S.READY, attempts=1, clear_claim=True, stamp="ready_at"
    )


def test_the_last_attempt_fails_for_good_even_when_a_retry_is_asked_for():
    assert after_attempt(attempts=2, max_attempts=3, retry=True) == Attempt(
        S.FAILED, attempts=3, clear_claim=False, stamp="completed_at"
    )
    assert after_attempt(attempts=0, max_attempts=1, retry=True).status is S.FAILED


def test_an_attempt_given_up_without_retry_fails_for_good_with_attempts_left():
    assert after_attempt(attempts=0, max_attempts=3, retry=False) == Attempt(
        S.FAILED, attempts=1, clear_claim=False, stamp="completed_at"
    )


def test_a_count_already_past_the_budget_still_fails():
    """max_attempts lowered by task_update below the attempts already used: no retry."""
    assert after_attempt(attempts=5, max_attempts=2, retry=True).status is S.FAILED


@given(attempts=st.integers(0, 200), max_attempts=st.integers(1, 100), retry=st.booleans())
def test_after_attempt_uses_one_attempt_and_retries_exactly_while_the_budget_allows(attempts, max_attempts, retry):
    out = after_attempt(attempts, max_attempts, retry)
    assert out.attempts == attempts + 1
    # Written from the rule, not the code: a retry needs one to be asked for and an attempt left over.
    retried = retry and attempts + 1 < max_attempts
    assert out.status is (S.READY if retried else S.FAILED)
    assert out.retried is retried
    assert out.clear_claim is retried
    assert out.stamp == ("ready_at" if retried else "completed_at")
    assert out.status in TRANSITIONS[S.IN_PROGRESS]


def test_an_attempt_outcome_is_a_value_nobody_can_change():
    out = after_attempt(0, 3, True)
    with pytest.raises(AttributeError):
        out.status = S.FAILED  # type: ignore[misc]
