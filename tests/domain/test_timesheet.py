"""Time tracking, pure: holders through a task's life, spans cut to a window, agents' busy and
idle time. Event sequences are built by hand, timed by the injected clock."""

from __future__ import annotations

import math

import pytest

from taskloom.clock import ManualClock
from taskloom.domain.events import EventKind
from taskloom.domain.history import Move, spans
from taskloom.domain.timesheet import Window, agent_time, cut, elapsed, holders, totals

K = EventKind
T0 = ManualClock().now()
EVER = Window(0.0, math.inf)


class Life:
    """A task's events, each stamped at the clock's time as the test advances it."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.moves: list[Move] = []

    def __call__(self, after: float, kind: str, by: str | None, **payload) -> None:
        self.clock.advance(after)
        self.moves.append(Move(self.clock.now(), kind, by, payload))


def test_a_holder_is_the_claimer_through_block_and_unblock_and_nobody_after_release_retry_expiry_or_review():
    ev = Life()
    ev(0, K.TASK_CREATED, "carol")
    ev(0, K.TASK_READY, "carol")
    ev(10, K.TASK_CLAIMED, "alice")
    ev(20, K.TASK_BLOCKED, "alice")
    ev(40, K.TASK_IN_PROGRESS, "boss")  # unblocked by another agent: alice still holds it
    ev(15, K.TASK_RELEASED, "alice")
    ev(5, K.TASK_CLAIMED, "dave")
    ev(30, K.TASK_RETRY, "dave", reason="flaky")
    ev(5, K.TASK_CLAIMED, "alice")
    ev(61, K.LEASE_EXPIRED, "taskloom", agent="alice", status="ready")
    ev(4, K.TASK_CLAIMED, "dave")
    ev(6, K.TASK_REVIEW, "dave")
    ev(7, K.TASK_DONE, "boss")
    got = spans(ev.moves, "done")
    assert [(s.status, s.holder) for s in got] == [
        ("waiting", None), ("ready", None), ("in_progress", "alice"), ("blocked", "alice"),
        ("in_progress", "alice"), ("ready", None), ("in_progress", "dave"), ("ready", None),
        ("in_progress", "alice"), ("ready", None), ("in_progress", "dave"), ("review", None), ("done", None),
    ]
    pieces = cut(got, Window(T0, T0 + 300))
    assert holders(pieces) == {"alice": {"in_progress": 96.0, "blocked": 40.0}, "dave": {"in_progress": 36.0, "blocked": 0.0}}
    per_status = totals(pieces)
    assert per_status == {
        "backlog": 0.0, "waiting": 0.0, "ready": 24.0, "in_progress": 132.0, "review": 7.0, "blocked": 40.0,
        "done": 300.0 - 203.0, "failed": 0.0, "cancelled": 0.0,
    }
    assert elapsed(per_status) == 203.0  # created to done; the time since in done is not in play
    assert pieces[-1].open and not any(p.open for p in pieces[:-1])


def test_a_task_blocked_before_anyone_claimed_it_has_no_holder():
    ev = Life()
    ev(0, K.TASK_CREATED, "carol")
    ev(3, K.TASK_BLOCKED, "boss")
    ev(9, K.TASK_WAITING, "boss")
    assert [(s.status, s.holder) for s in spans(ev.moves, "waiting")] == [
        ("waiting", None), ("blocked", None), ("waiting", None)
    ]
    assert holders(cut(spans(ev.moves, "waiting"), EVER)) == {}


def test_an_expiry_at_the_last_attempt_ends_the_hold_in_one_failed_span():
    ev = Life()
    ev(0, K.TASK_CREATED, "carol")
    ev(0, K.TASK_READY, "carol")
    ev(1, K.TASK_CLAIMED, "alice")
    ev(60, K.LEASE_EXPIRED, "taskloom", agent="alice", status="failed")
    ev(0, K.TASK_FAILED, "taskloom")
    pieces = cut(spans(ev.moves, "failed"), Window(T0, T0 + 100))
    assert [(p.status, p.seconds, p.holder, p.open) for p in pieces] == [
        ("waiting", 0.0, None, False), ("ready", 1.0, None, False), ("in_progress", 60.0, "alice", False),
        ("failed", 39.0, None, True),
    ]


def test_the_window_cuts_spans_at_both_ends_and_leaves_out_what_only_touches_its_start():
    ev = Life()
    ev(0, K.TASK_CREATED, "carol")
    ev(0, K.TASK_READY, "carol")
    ev(100, K.TASK_CLAIMED, "alice")  # T0+100
    ev(50, K.TASK_DONE, "alice")  # T0+150
    got = spans(ev.moves, "done")
    assert [(p.status, p.start - T0, p.end - T0, p.open) for p in cut(got, Window(T0 + 40, T0 + 120))] == [
        ("ready", 40, 100, False), ("in_progress", 100, 120, True)  # still in progress at the window's end
    ]
    # The waiting span (0 s at T0) and ready (ending at T0+100) lie before or touch the start.
    assert [p.status for p in cut(got, Window(T0 + 100, T0 + 150))] == ["in_progress", "done"]
    assert [(p.status, p.seconds, p.open) for p in cut(got, Window(T0 + 150, T0 + 150))] == [("done", 0.0, True)]
    assert cut(got, Window(T0 - 50, T0 - 1)) == []


def at(*pairs: tuple[float, float]) -> list[tuple[float, float]]:
    return [(T0 + a, T0 + b) for a, b in pairs]


def test_an_agent_is_busy_while_holding_work_and_idle_while_present_holding_nothing():
    # Seen at 0, 100 and 200 (each gap under 15 min), holding two tasks that overlap, one blocked a while.
    got = agent_time(
        [T0, T0 + 100, T0 + 200], busy=at((10, 50), (30, 80)), blocked=at((60, 90), (120, 150)), runs=[],
        window=Window(T0, T0 + 1000), now=T0 + 5000, away_after=900,
    )
    assert (got.present, got.busy, got.blocked, got.idle) == (200.0, 70.0, 40.0, 90.0)
    assert not got.present_at_end  # last seen at 200; the window ends at 1000, and now is far later


def test_a_silence_of_away_after_or_more_is_away_unless_a_hold_or_a_run_spans_it():
    signs = [T0, T0 + 100, T0 + 1000, T0 + 1100]
    window = Window(T0, T0 + 2000)
    alone = agent_time(signs, [], [], [], window, now=T0 + 9000, away_after=900)
    assert (alone.present, alone.idle) == (200.0, 200.0)  # 100 -> 1000 is 900 s of silence: away
    held = agent_time(signs, busy=at((100, 1000)), blocked=[], runs=[], window=window, now=T0 + 9000, away_after=900)
    assert (held.present, held.busy, held.idle) == (1100.0, 900.0, 200.0)
    ran = agent_time(signs, [], [], runs=at((100, 1000)), window=window, now=T0 + 9000, away_after=900)
    assert (ran.present, ran.busy, ran.idle) == (1100.0, 0.0, 1100.0)
    short = agent_time(signs, busy=at((150, 400)), blocked=[], runs=[], window=window, now=T0 + 9000, away_after=900)
    assert (short.present, short.busy, short.idle) == (450.0, 250.0, 200.0)  # a hold is presence, not a bridge


def test_an_agent_seen_lately_is_present_until_now_and_the_window_cuts_its_time():
    got = agent_time([T0, T0 + 60], busy=at((0, 30)), blocked=[], runs=[], window=Window(T0 + 20, T0 + 500),
                     now=T0 + 500, away_after=900)
    assert (got.present, got.busy, got.idle, got.present_at_end) == (480.0, 10.0, 470.0, True)
    gone = agent_time([T0, T0 + 60], [], [], [], Window(T0, T0 + 2000), now=T0 + 2000, away_after=900)
    assert (gone.present, gone.present_at_end) == (60.0, False)


@pytest.mark.parametrize("signs", [[], [T0 - 5000]])
def test_an_agent_never_seen_in_the_window_has_no_time(signs):
    got = agent_time(signs, [], [], [], Window(T0, T0 + 100), now=T0 + 100, away_after=900)
    assert (got.present, got.busy, got.blocked, got.idle) == (0.0, 0.0, 0.0, 0.0)
