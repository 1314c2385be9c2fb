"""What a completion report works out from a scope's tasks, dependencies and events, free of SQL.

Two critical paths: as planned, the longest dependency chain by estimate (tasks have no estimate
yet, so each weighs 1 and the chain is counted in tasks); and as it happened, the chain of done
tasks that set the finish time, walked back from the last task to finish through the dependency
that finished last. Per task: when it was first claimed, when it was done, who held it, and how
long it was in progress, from its status spans (domain/history.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from taskloom.domain.events import EventKind, kind_of
from taskloom.domain.graph import build as build_graph
from taskloom.domain.history import Move, Span
from taskloom.domain.statuses import TaskStatus

S = TaskStatus


def planned_path(
    order: Sequence[Hashable],
    deps: Mapping[Hashable, Iterable[Hashable]],
    weight: Mapping[Hashable, float] | None = None,
) -> list[Hashable]:
    """The heaviest dependency chain among `order`'s nodes, first dependency first. Dependencies
    outside `order` are ignored; each node weighs `weight[node]`, or 1. Ties go to the node
    earlier in `order`, so the same plan always gives the same path."""
    import networkx as nx  # only when a report is made: networkx stays out of start-up

    index = {node: i for i, node in enumerate(order)}
    graph = build_graph(order, ((dep, node) for node in order for dep in deps.get(node, ()) if dep in index))
    total: dict[Hashable, float] = {}
    via: dict[Hashable, Hashable | None] = {}
    for node in nx.lexicographical_topological_sort(graph, key=index.__getitem__):
        best, prev = 0.0, None
        for dep in sorted(graph.predecessors(node), key=index.__getitem__):
            if total[dep] > best:
                best, prev = total[dep], dep
        total[node] = best + (weight or {}).get(node, 1.0)
        via[node] = prev
    if not total:
        return []
    end: Hashable | None = max(order, key=lambda n: (total[n], -index[n]))
    path = []
    while end is not None:
        path.append(end)
        end = via[end]
    return path[::-1]


def actual_path(done_order: Sequence[Hashable], deps: Mapping[Hashable, Iterable[Hashable]]) -> list[Hashable]:
    """The chain that determined the finish, first task first. `done_order` lists the done tasks
    in the order they finished: start from the last, and step back each time to the dependency
    that finished last, until a task had no done dependency."""
    rank = {node: i for i, node in enumerate(done_order)}
    if not rank:
        return []
    node: Hashable | None = done_order[-1]
    path = []
    while node is not None:
        path.append(node)
        node = max((d for d in deps.get(node, ()) if d in rank), key=rank.__getitem__, default=None)
    return path[::-1]


@dataclass(frozen=True)
class Timing:
    """One task's times, in epoch seconds, from its spans."""

    first_claimed: float | None
    done_at: float | None
    in_progress: float  # seconds in progress over every attempt
    by_holder: dict[str, float]  # those seconds per agent holding the task at the time
    done_by: str | None  # who held it when it was finished (None: done by its subtasks)
    claims: int  # attempts: each claim is one, however it ended


def timing(moves: Sequence[Move], spans: Sequence[Span], now: float) -> Timing:
    """`moves` oldest first, the ones `spans` came from. In-progress time belongs to the agent
    that claimed the task last before it, not whoever moved it (an unblock is the answerer's move)."""
    claims = [(m.at, m.agent) for m in moves if m.kind == EventKind.TASK_CLAIMED]
    times = [at for at, _ in claims]
    by_holder: dict[str, float] = {}
    first_claimed = done_at = None
    for span in spans:
        if span.status is S.IN_PROGRESS:
            first_claimed = span.entered_at if first_claimed is None else first_claimed
            seconds = max(0.0, (now if span.left_at is None else span.left_at) - span.entered_at)
            i = bisect_right(times, span.entered_at)
            holder = (claims[i - 1][1] if i else None) or span.agent or "?"
            by_holder[holder] = by_holder.get(holder, 0.0) + seconds
    if spans and spans[-1].status is S.DONE:
        done_at = spans[-1].entered_at
    done_by = claims[-1][1] if claims and done_at is not None else None
    return Timing(first_claimed, done_at, sum(by_holder.values()), by_holder, done_by, len(claims))


@dataclass(frozen=True)
class Incident:
    """Something that went wrong with a task: a failed attempt, a final failure, an expired lease."""

    at: float
    what: str  # 'retried', 'failed', 'lease_expired'
    agent: str | None  # whose attempt it was
    reason: str


def incidents(moves: Iterable[Move]) -> list[Incident]:
    """Failed attempts (retried or not) and expired leases, oldest first. An expiry at the last
    attempt is logged twice (lease.expired, then task.failed): it is one incident here."""
    out: list[Incident] = []
    for move in moves:
        kind = kind_of(move.kind)
        reason = str(move.payload.get("reason") or "")
        if kind is EventKind.TASK_RETRY:
            out.append(Incident(move.at, "retried", move.agent, reason))
        elif kind is EventKind.LEASE_EXPIRED:
            holder = move.payload.get("agent")
            gone = "the holder stopped heartbeating; " + (
                "failed for good" if move.payload.get("status") == S.FAILED else "back in the queue"
            )
            out.append(Incident(move.at, "lease_expired", holder if isinstance(holder, str) else None, gone))
        elif kind is EventKind.TASK_FAILED:
            if out and out[-1].what == "lease_expired" and out[-1].at == move.at:
                continue
            out.append(Incident(move.at, "failed", move.agent, reason))
    return out


def short_time(ts: float | None) -> str:
    """`2027-01-15 08:00:05Z`: a report's times, to the second."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def duration_text(seconds: float | None) -> str:
    """`2d03h`, `1h05m`, `3m20s`, `42s`; `-` for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole >= 86400:
        return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole}s"
