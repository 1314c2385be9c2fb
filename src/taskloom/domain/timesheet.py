"""Where the time went: tasks' spans cut to a report's window, and agents' busy and idle time.

Pure arithmetic over the spans domain/history.py rebuilds; services/timesheet.py reads the rows.
What the report's words mean:
- Waiting is three statuses, each its own total: `ready` is waiting for a claim (a worker could
  take it now); `waiting` is waiting for its dependencies, subtasks or stream; `backlog` is
  waiting for a person to put it in play.
- A span is open when the task was still in that status at the report's end (--until, else now),
  and is counted up to that end.
- An agent is busy while it holds a task in progress. Holding only blocked tasks (lease paused,
  waiting for an answer) is neither busy nor idle: it is `blocked`. Present: from each sign of
  life (its registration, any event it wrote, its last tool call) to the next when they are less
  than `away_after` apart (agent_list's offline threshold), to now when the last is that recent,
  and throughout any task it holds and any run of it under the runner. Idle: present, holding
  nothing. Reads write no event, so an agent that only polls an empty queue for longer than
  `away_after` counts as away, not idle, until its next write or run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from taskloom.domain.history import Span
from taskloom.domain.statuses import ENDED, TaskStatus

S = TaskStatus
Interval = tuple[float, float]


@dataclass(frozen=True)
class Window:
    start: float  # -inf: from the first event
    end: float  # the report's end: --until, or now; never later than now


@dataclass(frozen=True)
class Piece:
    """A span as far as it lies in the window."""

    status: TaskStatus
    start: float
    end: float
    open: bool  # still in this status at the window's end
    agent: str | None  # who made the move into it
    holder: str | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


def cut(spans: Iterable[Span], window: Window) -> list[Piece]:
    """The spans that lie in the window, cut to it. A span that ends where the window starts is
    left out; one that starts where it ends is kept (0 s, open): it is the status at the end."""
    out: list[Piece] = []
    for s in spans:
        left = math.inf if s.left_at is None else s.left_at
        if s.entered_at > window.end or left < window.start or (left == window.start and s.entered_at < left):
            continue
        start, end = max(s.entered_at, window.start), min(left, window.end)
        out.append(Piece(s.status, start, end, left > window.end, s.agent, s.holder))
    return out


def totals(pieces: Iterable[Piece]) -> dict[TaskStatus, float]:
    """Seconds in each status, every status present (0 for those the task was never in)."""
    out = dict.fromkeys(S, 0.0)
    for p in pieces:
        out[p.status] += p.seconds
    return out


def elapsed(per_status: dict[TaskStatus, float]) -> float:
    """Time in play: every status but the ended ones (done, cancelled, failed)."""
    return sum(seconds for status, seconds in per_status.items() if status not in ENDED)


def holders(pieces: Iterable[Piece]) -> dict[str, dict[TaskStatus, float]]:
    """Each holder's seconds holding the task, in progress and blocked, in order of first hold."""
    out: dict[str, dict[TaskStatus, float]] = {}
    for p in pieces:
        if p.holder is not None:
            held = out.setdefault(p.holder, {S.IN_PROGRESS: 0.0, S.BLOCKED: 0.0})
            held[p.status] += p.seconds
    return out


@dataclass(frozen=True)
class AgentTime:
    present: float
    busy: float  # holding a task in progress
    blocked: float  # holding blocked tasks only
    idle: float  # present, holding nothing
    present_at_end: bool  # present at the window's end


def agent_time(
    signs: Iterable[float],
    busy: Iterable[Interval],
    blocked: Iterable[Interval],
    runs: Iterable[Interval],
    window: Window,
    now: float,
    away_after: float,
) -> AgentTime:
    """One agent's time in the window; `busy` and `blocked` are its holds, `runs` its runs (an
    unfinished one ending now), `signs` the times it was seen. Overlaps count once: an agent
    holding two tasks in progress for an hour was busy for an hour."""
    marks = sorted(signs)
    if marks and now - marks[-1] < away_after:
        marks.append(now)
    stretches: list[Interval] = []
    for t in marks:
        if stretches and t - stretches[-1][1] < away_after:
            stretches[-1] = (stretches[-1][0], t)
        else:
            stretches.append((t, t))
    busy, blocked, runs = list(busy), list(blocked), list(runs)
    present = _union(_clip([*stretches, *busy, *blocked, *runs], window))
    working = _length(_union(_clip(busy, window)))
    holding = _length(_union(_clip([*busy, *blocked], window)))
    total = _length(present)
    at_end = any(start <= window.end <= end for start, end in present)
    return AgentTime(total, working, holding - working, max(0.0, total - holding), at_end)


def _clip(intervals: Iterable[Interval], window: Window) -> list[Interval]:
    out = []
    for start, end in intervals:
        start, end = max(start, window.start), min(end, window.end)
        if start <= end:
            out.append((start, end))
    return out


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _length(intervals: Iterable[Interval]) -> float:
    return sum(end - start for start, end in intervals)
