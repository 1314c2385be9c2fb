"""Agent coordination under concurrency: several real `taskloom serve` stdio processes on one SQLite file.

Each process is the console script's own `main(["serve", ...])`, driven by the SDK's real MCP
client (`mcp.Client` over `stdio_client`), so every request crosses a real pipe, a real server,
its own connections, resolver and push watcher. They share nothing but the database file.

Proved here, each with exactly-once / no-loss checks:
- messaging fan-out (direct, role, broadcast, task thread) sent concurrently from six processes
  reaches exactly its audience, with exact unread counts; acks and mark-read racing from two
  processes of one agent settle each message once;
- presence across processes, and a SIGKILLed holder going offline while its lease is recovered;
- push across processes: subscribers in separate processes hear every later change, a killed one
  does not disturb the others;
- escalation exactly once when several processes' resolvers race over expired leases, failed
  dependencies and concurrent blockers (tests/faults/test_dead_agent.py covers the single-survivor
  story and the in-process race with an injected clock);
- memory: racing memory_set versions are a gapless 1..n, TTL expiry agrees across processes.

Presence windows (online 2 minutes, offline 15) have no flag or variable, so the presence test
starts its servers through a tiny launcher that calls the same `taskloom.cli.main.main` with the
windows shortened in the Settings it builds; nothing else differs from the console script.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import ResourceUpdatedNotification

from tests.faults.common import integrity, rows

PROJECT = "coord"
CALL_TIMEOUT = 30.0  # seconds for one tool call; bounds a hung server only
START_DEADLINE = 30.0  # seconds for a fleet of servers to start and initialize
NOTIFY_DEADLINE = 5.0  # seconds for a push notification (the goal is 0.25)
POLL = 0.05  # seconds between polls of a condition with a deadline

# Starts `taskloom serve` exactly as the console script does (`taskloom.cli.main:main`), after
# writing its pid (the SDK's stdio client does not expose it, and some tests SIGKILL servers) and,
# when asked, shortening the presence windows, which have no command-line flag or variable.
LAUNCHER = """
import dataclasses, os, sys
with open(os.environ["COORD_TEST_PIDFILE"], "w") as f:
    f.write(str(os.getpid()))
import taskloom.cli.main as cli
if os.environ.get("COORD_TEST_PRESENCE"):
    online, offline = map(float, os.environ["COORD_TEST_PRESENCE"].split(","))
    settings = cli._settings
    cli._settings = lambda args: dataclasses.replace(
        settings(args), online_seconds=online, offline_seconds=offline
    )
sys.exit(cli.main(sys.argv[1:]))
"""


# ------------------------------------------------------------------ server processes and clients


class Updates:
    """resources/updated notifications one client received, with their arrival times."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []
        self._waiters: list[anyio.Event] = []  # one per waiting task: several may wait at once

    async def __call__(self, message: object) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.seen.append((time.monotonic(), str(message.params.uri)))
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.set()

    def count(self, uri: str, after: float = 0.0) -> int:
        return sum(1 for at, seen in self.seen if seen == uri and at >= after)

    async def wait_for(self, uri: str, after: float, who: str = "") -> float:
        """Arrival time of the first notification for `uri` that arrived at or after `after`."""
        with anyio.move_on_after(NOTIFY_DEADLINE):
            while True:
                for at, seen in self.seen:
                    if seen == uri and at >= after:
                        return at
                arrived = anyio.Event()
                self._waiters.append(arrived)
                await arrived.wait()
        recent = [(round(at - after, 3), u) for at, u in self.seen[-8:]]
        raise AssertionError(
            f"{who}: no notification for {uri} within {NOTIFY_DEADLINE}s; last seen: {recent}"
        )


class ToolFailed(Exception):
    """A tool call that had to succeed did not.

    Not an AssertionError, so a broken setup never reads as a missed notification."""


@dataclass
class Proc:
    """One server process and the MCP client session talking to it."""

    label: str
    agent: str
    log: Path
    pid_file: Path
    updates: Updates = field(default_factory=Updates)
    client: Client | None = None
    pid: int | None = None
    killed: bool = False
    failure: BaseException | None = None
    ready: anyio.Event = field(default_factory=anyio.Event)
    stop: anyio.Event = field(default_factory=anyio.Event)
    exited: anyio.Event = field(default_factory=anyio.Event)

    async def result(self, tool: str, **args: Any) -> Any:
        assert self.client is not None and not self.killed, f"{self.label} is not running"
        with anyio.fail_after(CALL_TIMEOUT):
            return await self.client.call_tool(tool, args)

    async def call(self, tool: str, **args: Any) -> dict[str, Any]:
        """A tool call that must succeed; its structured result."""
        result = await self.result(tool, **args)
        if result.is_error:
            raise ToolFailed(f"{self.label}: {tool}({args}) failed: {result.content[0].text}")
        return result.structured_content

    async def error(self, tool: str, **args: Any) -> str:
        """A tool call that must fail; its error text (it starts with the error code)."""
        result = await self.result(tool, **args)
        assert result.is_error, f"{self.label}: {tool}({args}) unexpectedly succeeded"
        return result.content[0].text

    async def subscribe(self, uri: str) -> None:
        assert self.client is not None
        with warnings.catch_warnings():  # deprecated in the 2026 era; how handshake-era clients subscribe
            warnings.simplefilter("ignore")
            with anyio.fail_after(CALL_TIMEOUT):
                await self.client.subscribe_resource(uri)

    def kill(self) -> None:
        """SIGKILL the server; returns once the kernel says it is dead (a zombie counts)."""
        assert self.pid is not None
        self.killed = True
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                return
            if state in ("Z", "X"):
                return
            time.sleep(0.005)
        raise AssertionError(f"{self.label} (pid {self.pid}) survived SIGKILL")

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Fleet:
    """Server processes on one database, each with its client session held open by its own task."""

    def __init__(self, tmp_path: Path, db: Path, tg: anyio.abc.TaskGroup) -> None:
        self.tmp_path = tmp_path
        self.db = db
        self._tg = tg
        self.procs: list[Proc] = []

    async def start(
        self, *specs: tuple, lease: float | None = None, presence: str | None = None
    ) -> list[Proc]:
        """Start servers concurrently, one per (label, agent[, lease]); returns once all are initialized."""
        procs = []
        for label, agent, *own_lease in specs:
            proc = Proc(label, agent, self.tmp_path / f"{label}.stderr", self.tmp_path / f"{label}.pid")
            procs.append(proc)
            self.procs.append(proc)
            self._tg.start_soon(self._hold, proc, own_lease[0] if own_lease else lease, presence)
        with anyio.fail_after(START_DEADLINE):
            for proc in procs:
                await proc.ready.wait()
        failed = {p.label: f"{p.failure!r}\n{p.stderr()[-2000:]}" for p in procs if p.client is None}
        assert not failed, f"servers did not start: {failed}"
        return procs

    async def _hold(self, proc: Proc, lease: float | None, presence: str | None) -> None:
        argv = ["serve", "--transport", "stdio", "--db", str(self.db), "--project", PROJECT]
        if lease is not None:
            argv += ["--lease-seconds", str(lease)]
        env = {"TASKLOOM_AGENT": proc.agent, "COORD_TEST_PIDFILE": str(proc.pid_file)}
        if presence:
            env["COORD_TEST_PRESENCE"] = presence
        params = StdioServerParameters(
            command=sys.executable, args=["-c", LAUNCHER, *argv], env=env, cwd=str(self.tmp_path)
        )
        try:
            with open(proc.log, "w") as errlog:  # noqa: ASYNC230 -- a local file, before the server starts
                transport = stdio_client(params, errlog=errlog)
                async with Client(
                    transport, mode="legacy", message_handler=proc.updates, read_timeout_seconds=CALL_TIMEOUT
                ) as client:
                    proc.pid = int(proc.pid_file.read_text())
                    proc.client = client
                    proc.ready.set()
                    await proc.stop.wait()
        except Exception as exc:  # noqa: BLE001 -- reported by start() or close()
            proc.failure = exc
        finally:
            proc.ready.set()
            proc.exited.set()

    async def close(self) -> None:
        for proc in self.procs:
            proc.stop.set()
        with anyio.fail_after(30):
            for proc in self.procs:
                await proc.exited.wait()

    def check_logs(self) -> None:
        """No live server logged a traceback or a lock error, and none failed to shut down."""
        troubled = {
            p.label: p.stderr()[-3000:]
            for p in self.procs
            if not p.killed and any(w in p.stderr() for w in ("Traceback", "locked", "busy"))
        }
        assert not troubled, f"server logs show trouble: {troubled}"
        failed = {p.label: repr(p.failure) for p in self.procs if p.failure is not None and not p.killed}
        assert not failed, f"client sessions failed: {failed}"


@asynccontextmanager
async def fleet(tmp_path: Path, db: Path) -> AsyncIterator[Fleet]:
    async with anyio.create_task_group() as tg:
        f = Fleet(tmp_path, db, tg)
        try:
            yield f
        finally:
            with anyio.CancelScope(shield=True):
                await f.close()
    f.check_logs()
    assert integrity(db) == "ok"


async def together(*calls: Any) -> list[Any]:
    """Run coroutines concurrently (each usually on a different process); their results in order."""
    results: list[Any] = [None] * len(calls)

    async def run(i: int, coro: Any) -> None:
        results[i] = await coro

    async with anyio.create_task_group() as tg:
        for i, coro in enumerate(calls):
            tg.start_soon(run, i, coro)
    return results


async def poll(what: str, check: Any, deadline: float) -> Any:
    """Await `check()` until it returns something truthy, or fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < end, f"still waiting after {deadline}s for {what}"
        await anyio.sleep(POLL)


# ------------------------------------------------------------------ 1. messaging fan-out

ROLES = {"a0": "backend", "a1": "backend", "a2": "backend", "a3": "frontend", "a4": "frontend", "a5": "qa"}
ROUNDS = 4
# Task threads: code -> (creator, holder or None). Writers join a thread by writing in it.
THREADS = {"T-1": ("a5", "a1"), "T-2": ("a5", None), "T-3": ("a3", "a4")}
THREAD_WRITERS = {"a0": "T-1", "a2": "T-2", "a3": "T-3", "a1": "T-3"}


def outbox(sender: str, rnd: int) -> list[str]:
    """What `sender` sends in round `rnd`: each body is unique, so inboxes can be compared as sets."""
    i = int(sender[1:])
    to = [f"a{(i + 1) % 6}", f"a{(i + 3) % 6}", "role:backend", "role:frontend", "all"]
    if sender in THREAD_WRITERS:
        to.append(f"task:{THREAD_WRITERS[sender]}")
    return to


def audience(sender: str, to: str, agents: dict[str, str]) -> set[str]:
    """Who must read a message, by the README's rules (never its own sender)."""
    if to == "all":
        readers = set(agents)
    elif to.startswith("role:"):
        readers = {a for a, role in agents.items() if role == to[5:]}
    elif to.startswith("task:"):
        code = to[5:]
        creator, holder = THREADS[code]
        writers = {w for w, t in THREAD_WRITERS.items() if t == code}
        readers = {creator, *([holder] if holder else []), *writers}
    else:
        readers = {to}
    return readers - {sender}


async def test_messages_sent_concurrently_from_six_processes_reach_exactly_their_audience_once_and_acks_race_safely(
    tmp_path,
):
    db = tmp_path / "coord.db"
    async with fleet(tmp_path, db) as f:
        procs = {p.agent: p for p in await f.start(*((a, a) for a in ROLES))}
        await together(*(p.call("agent_init", role=ROLES[a]) for a, p in procs.items()))
        await procs["a5"].call(
            "task_create", tasks=[{"title": "one", "code": "T-1"}, {"title": "two", "code": "T-2"}]
        )
        await procs["a3"].call("task_create", tasks=[{"title": "three", "code": "T-3"}])
        await procs["a1"].call("task_claim", task="T-1")
        await procs["a4"].call("task_claim", task="T-3")

        sent: list[tuple[int, str, str, str]] = []  # (id, sender, to, body)

        async def send_all(agent: str) -> None:
            for rnd in range(ROUNDS):
                for n, to in enumerate(outbox(agent, rnd)):
                    body = f"{agent} r{rnd} #{n} -> {to}"
                    out = await procs[agent].call("message_send", to=to, body=body, subject=body)
                    sent.append((out["id"], agent, out["to"], body))

        await together(*(send_all(a) for a in ROLES))
        assert len({s[0] for s in sent}) == len(sent), "message ids reused"

        # A late joiner of the backend role reads every role and broadcast message sent before it came.
        [late, again] = await f.start(("late", "late"), ("a0-bis", "a0"))
        await late.call("agent_init", role="backend")
        agents = {**ROLES, "late": "backend"}

        expected = {a: set() for a in agents}
        for _, sender, to, body in sent:
            for reader in audience(sender, to.removeprefix("agent:"), agents):
                expected[reader].add(body)

        async def inbox(proc: Proc, agent: str) -> dict[str, Any]:
            return await proc.call("message_inbox", agent=agent, limit=200)

        readers = list(agents)
        views = {p.label: p for p in [*procs.values(), late]}
        for n, agent in enumerate(readers):
            own = await inbox(views[agent], agent)
            # The same inbox read through another process, as another agent's server would.
            other = await inbox(views[readers[(n + 1) % len(readers)]], agent)
            assert own == other, f"{agent}'s inbox differs between processes"
            bodies = [m["body"] for m in own["messages"]]
            dupes = [b for b, c in Counter(bodies).items() if c > 1]
            assert not dupes, f"{agent} got duplicates: {dupes}"
            assert set(bodies) == expected[agent], (
                f"{agent}: missing {sorted(expected[agent] - set(bodies))[:5]}, "
                f"leaked {sorted(set(bodies) - expected[agent])[:5]}"
            )
            assert own["unread"] == len(expected[agent])
            unread_only = await views[agent].call("message_inbox", unread_only=True, limit=1)
            assert unread_only["unread"] == len(expected[agent])

        # Two processes of a0 settle its inbox at once: acks in chunks from one, mark-read pages and
        # acks in the other order from the other. Each message ends read and acked exactly once.
        ids = sorted(m["id"] for m in (await inbox(procs["a0"], "a0"))["messages"])
        total = len(ids)
        assert total == len(expected["a0"]) > 40
        seen_unread: dict[str, list[int]] = {"first": [], "second": []}

        async def ack_forward() -> None:
            for k in range(0, total, 5):
                out = await procs["a0"].call("message_ack", ids=ids[k : k + 5])
                assert out["acked"] == ids[k : k + 5]
                seen_unread["first"].append(out["unread"])

        async def read_and_ack_backward() -> None:
            for k in range(total, 0, -6):
                await again.call("message_inbox", mark_read=True, limit=3)
                out = await again.call("message_ack", ids=ids[max(0, k - 6) : k])
                seen_unread["second"].append(out["unread"])

        await together(ack_forward(), read_and_ack_backward())
        for who, values in seen_unread.items():
            assert values == sorted(values, reverse=True), f"{who} saw unread go up: {values}"
        for proc in (procs["a0"], again):
            settled = await proc.call("message_inbox", agent="a0", limit=200)
            assert settled["unread"] == 0
            assert sorted(m["id"] for m in settled["messages"]) == ids
            assert all(m["read"] and m["acked"] for m in settled["messages"])
        receipts = rows(db, "SELECT message_id, read_at, acked_at FROM message_receipts WHERE agent = 'a0'")
        assert sorted(r["message_id"] for r in receipts) == ids, "one receipt per message for a0"
        first_acks = {r["message_id"]: (r["read_at"], r["acked_at"]) for r in receipts}
        assert all(r["acked_at"] is not None for r in receipts)
        await together(procs["a0"].call("message_ack", ids=ids[:50]), again.call("message_ack", ids=ids[:50]))
        again_rows = rows(db, "SELECT message_id, read_at, acked_at FROM message_receipts WHERE agent = 'a0'")
        assert {r["message_id"]: (r["read_at"], r["acked_at"]) for r in again_rows} == first_acks, (
            "re-ack moved"
        )
        # a0's acks are a0's alone: everyone else's messages (role and broadcast ones a0 acked
        # included) stay unread and unacknowledged for them.
        for agent in readers[1:]:
            theirs = await inbox(views[agent], agent)
            assert theirs["unread"] == len(expected[agent])
            assert not any(m["read"] or m["acked"] for m in theirs["messages"]), agent


# ------------------------------------------------------------------ 2. presence

# Shortened windows (see LAUNCHER). Sightings are written at most every 5 s per agent per process
# (PRESENCE_EVERY in server/build.py), so an agent that keeps calling may look up to ~5 s quiet:
# the offline window must stay above that, or a working agent would flap to offline.
ONLINE = 4.0  # wide enough that a slow start on a loaded machine still reads online
OFFLINE = 8.0
PRESENCE_LEASE = 2.0


async def roster(proc: Proc) -> dict[str, tuple[str, str | None]]:
    listed = await proc.call("agent_list")
    return {a["name"]: (a["status"], a.get("current_task")) for a in listed["agents"]}


async def test_presence_agrees_across_processes_and_a_killed_holder_goes_offline_while_its_lease_is_recovered(
    tmp_path,
):
    db = tmp_path / "coord.db"
    async with fleet(tmp_path, db) as f:
        obs, alice, bob, carol, dave = await f.start(
            *((n, n) for n in ("obs", "alice", "bob", "carol", "dave")),
            lease=PRESENCE_LEASE,
            presence=f"{ONLINE},{OFFLINE}",
        )
        await together(*(p.call("agent_init", role="backend") for p in (obs, alice, bob, carol, dave)))
        await obs.call(
            "task_create", tasks=[{"title": "alice's", "code": "T-1"}, {"title": "dave's", "code": "T-2"}]
        )
        await together(alice.call("task_claim", task="T-1"), dave.call("task_claim", task="T-2"))

        want = {
            "obs": ("online", None),
            "alice": ("busy", "T-1"),
            "bob": ("online", None),
            "carol": ("online", None),
            "dave": ("busy", "T-2"),
        }
        assert await roster(obs) == want
        assert await roster(bob) == want

        dave.kill()  # holding T-2; its own resolver dies with it
        killed_at = time.monotonic()

        stop_heartbeats = anyio.Event()

        async def keep_alice_working() -> None:
            while not stop_heartbeats.is_set():
                await alice.call("task_heartbeat", task="T-1")
                with anyio.move_on_after(0.3):
                    await stop_heartbeats.wait()

        history: dict[str, list[str]] = {name: [] for name in want}

        async def watch() -> dict[str, tuple[str, str | None]] | None:
            # Both processes must agree. A status may legitimately change between the two reads
            # (a window boundary passes, a throttled sighting lands), so a mismatch gets retried.
            for _ in range(3):
                seen, other = await roster(obs), await roster(bob)
                if seen == other:
                    break
            else:
                raise AssertionError(f"two processes disagree about presence: {seen} != {other}")
            for name, (status, _) in seen.items():
                if not history[name] or history[name][-1] != status:
                    history[name].append(status)
            return seen if seen["dave"][0] == "offline" else None

        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_alice_working)

            async def recovered() -> dict | None:
                await watch()
                got = await obs.call("task_get", task="T-2")
                return got if got["task"]["status"] == "ready" else None

            got = await poll("T-2's lease to be recovered", recovered, PRESENCE_LEASE + 10)
            assert (got["task"]["attempts"], got["task"].get("claimed_by")) == (1, None)
            assert [e["trigger"] for e in got["escalations"]] == ["lease_expired"]
            assert (await roster(obs))["dave"][1] is None, "a recovered task is nobody's current task"

            final = await poll("dave to go offline", watch, OFFLINE + 10)
            stop_heartbeats.set()
        quiet = time.monotonic() - killed_at
        assert quiet < OFFLINE + 6, f"dave went offline only {quiet:.1f}s after dying"
        assert final["alice"] == ("busy", "T-1"), "a heartbeating holder stays busy"
        assert final["dave"] == ("offline", None)
        # Dave: busy while holding, then not busy once the lease was recovered, then offline; never back.
        assert history["dave"][0] == "busy" and history["dave"][-1] == "offline"
        assert "busy" not in history["dave"][1:] and history["dave"].count("offline") == 1, history
        assert history["alice"] == ["busy"], history
        # Carol is alive but silent: quiet past the online window she is idle, then offline like dave.
        assert "idle" in history["carol"] and history["carol"][0] == "online", history
        assert "offline" not in history["obs"] + history["bob"], history
        # The recovery happened once, by one of the survivors' resolvers.
        kinds = Counter(r["kind"] for r in rows(db, "SELECT kind FROM events WHERE subject = 'T-2'"))
        assert kinds["lease.expired"] == 1 and kinds["task.escalated"] == 1, kinds


# ------------------------------------------------------------------ 3. push across processes

TASK_URI = "taskloom://tasks/T-1"
INBOX_URI = "taskloom://agents/bob/inbox"
STATUS_URI = "taskloom://status"
PUSH_ROUNDS = 6  # changes before and after a subscriber process is killed


async def test_subscribers_in_separate_processes_hear_every_later_change_and_a_killed_one_disturbs_nobody(
    tmp_path,
):
    db = tmp_path / "coord.db"
    async with fleet(tmp_path, db) as f:
        writer, on_task, on_inbox, on_status, on_all, on_other = await f.start(
            ("writer", "boss"),
            ("on-task", "sub1"),
            ("on-inbox", "bob"),
            ("on-status", "sub3"),
            ("on-all", "sub4"),
            ("on-other", "sub5"),
        )
        await on_inbox.call("agent_init", role="backend")
        await writer.call(
            "task_create", tasks=[{"title": "watched", "code": "T-1"}, {"title": "other", "code": "T-2"}]
        )
        await writer.call("task_claim", task="T-1")
        # Each subscription returns before any change below is made.
        await together(
            on_task.subscribe(TASK_URI),
            on_inbox.subscribe(INBOX_URI),
            on_status.subscribe(STATUS_URI),
            on_all.subscribe(TASK_URI),
            on_all.subscribe(INBOX_URI),
            on_all.subscribe(STATUS_URI),
            on_other.subscribe("taskloom://tasks/T-2"),
        )
        listeners = [(on_task, TASK_URI), (on_inbox, INBOX_URI), (on_status, STATUS_URI)]
        listeners += [(on_all, uri) for uri in (TASK_URI, INBOX_URI, STATUS_URI)]

        async def change_and_hear(what: str, change: Any, expect: list[tuple[Proc, str]]) -> None:
            before = time.monotonic()
            await change
            # The notification may even arrive before the writer's reply; `before` bounds it.
            await together(
                *(
                    proc.updates.wait_for(uri, before, f"{proc.label} after {what}")
                    for proc, uri in expect
                    if not proc.killed
                )
            )

        for rnd in range(PUSH_ROUNDS):
            if rnd == PUSH_ROUNDS // 2:
                on_all.kill()  # mid-run, subscribed to everything
            task_change = writer.call("task_note", task="T-1", body=f"step {rnd}")
            await change_and_hear(
                f"note {rnd}", task_change, [(p, u) for p, u in listeners if u != INBOX_URI]
            )
            message = writer.call("message_send", to="role:backend", body=f"news {rnd}")
            await change_and_hear(f"message {rnd}", message, [(p, u) for p, u in listeners if u != TASK_URI])
        # A change nobody else watches, through a subscriber's own process, reaches only its watcher.
        before_other = time.monotonic()
        await change_and_hear(
            "T-2 note",
            on_task.call("task_note", task="T-2", body="other"),
            [(on_other, "taskloom://tasks/T-2")],
        )
        assert [uri for at, uri in on_other.updates.seen if at < before_other] == [], (
            "T-2's watcher heard T-1"
        )
        assert on_task.updates.count("taskloom://tasks/T-2") == 0

        # Fresh subscriptions, each followed at once by a change made in another process: a server
        # that already watches (a cursor in place) and one whose first subscription this is.
        await writer.call("task_create", tasks=[{"title": f"later {k}", "code": f"L-{k}"} for k in range(8)])
        [fresh] = await f.start(("fresh", "sub6"))
        for k in range(8):
            for proc in (on_status, fresh) if k % 2 else (fresh, on_status):
                uri = f"taskloom://tasks/L-{k}"
                before = time.monotonic()
                await proc.subscribe(uri)
                await writer.call("task_note", task=f"L-{k}", body=f"right after {proc.label} subscribed")
                await proc.updates.wait_for(uri, before, proc.label)
        # Dropping every subscription lets a watcher go idle and forget its cursor; the next first
        # subscription must set a new one before it answers, whether the watcher has idled yet or not.
        for k in range(4):
            uri = f"taskloom://tasks/L-{k}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for j in range(8):
                    await fresh.client.unsubscribe_resource(f"taskloom://tasks/L-{j}")
            if k % 2:
                await anyio.sleep(0.1)  # several watcher intervals: it has gone idle
            before = time.monotonic()
            await fresh.subscribe(uri)
            await writer.call("task_note", task=f"L-{k}", body="after a resubscription")
            await fresh.updates.wait_for(uri, before, fresh.label)
        # The killed subscriber's server was the only loss; the writer and the rest carried on.
        assert on_all.killed and all(not p.killed for p in (writer, on_task, on_inbox, on_status, fresh))


# ------------------------------------------------------------------ 4. escalation exactly once

ESC_LEASE = 1.5  # seconds: over the 1 s resolver interval, so every survivor sleeps until this very expiry
RETRIED = [f"E-{n}" for n in range(6)]  # max_attempts 2: the expiry sends them back with an escalation
DOOMED = [f"F-{n}" for n in range(4)]  # max_attempts 1: the expiry fails them for good
DEPENDENTS = {f"D-{n}": f"F-{n}" for n in range(4)}  # each waits on a doomed task: dependency_failed
BLOCKED = [f"B-{n}" for n in range(4)]
# max_attempts 1, held by a live agent who gives up (task_fail) around the moment its lease runs
# out: its fail and the resolvers' expiry race; either may win, the failure is escalated once.
GAMBLED = {f"G-{n}": offset for n, offset in enumerate((-0.15, -0.05, -0.01, 0.0, 0.01, 0.02, 0.05, 0.15))}
GAMBLED_DEPENDENTS = {f"H-{n}": f"G-{n}" for n in range(len(GAMBLED))}


async def test_racing_resolvers_of_four_processes_escalate_each_expired_lease_failure_and_blocker_exactly_once(
    tmp_path,
):
    db = tmp_path / "coord.db"
    async with fleet(tmp_path, db) as f:
        boss, planner, s1, s2, victim = await f.start(
            # Only the victim's claims get the short lease; unblocked tasks get the default one.
            ("boss", "boss"),
            ("planner", "planner"),
            ("s1", "s1"),
            ("s2", "s2"),
            ("victim", "victim", ESC_LEASE),
        )
        [racer] = await f.start(("racer", "racer", ESC_LEASE))
        await together(
            boss.call("agent_init", role="orchestrator"),
            planner.call("agent_init", role="planner"),
            s1.call("agent_init", role="dev"),
            s2.call("agent_init", role="dev"),
            victim.call("agent_init", role="dev"),
        )
        specs = [{"title": f"retried {c}", "code": c, "max_attempts": 2} for c in RETRIED]
        specs += [{"title": f"doomed {c}", "code": c, "max_attempts": 1} for c in DOOMED]
        specs += [
            {"title": f"dependent {c}", "code": c, "depends_on": [dep]} for c, dep in DEPENDENTS.items()
        ]
        specs += [{"title": f"blocked {c}", "code": c} for c in BLOCKED]
        specs += [{"title": f"gambled {c}", "code": c, "max_attempts": 1} for c in GAMBLED]
        specs += [
            {"title": f"dependent {c}", "code": c, "depends_on": [dep]}
            for c, dep in GAMBLED_DEPENDENTS.items()
        ]
        await planner.call("task_create", tasks=specs)
        claimed_at = {}
        for code in GAMBLED:
            await racer.call("task_claim", task=code)
            claimed_at[code] = time.monotonic()
        outcomes: dict[str, str] = {}

        async def give_up_around_expiry(code: str) -> None:
            await anyio.sleep(max(0.0, claimed_at[code] + ESC_LEASE + GAMBLED[code] - time.monotonic()))
            got = await racer.result("task_fail", task=code, reason="gave up")
            outcomes[code] = got.content[0].text.split(":")[0] if got.is_error else "failed"

        async with anyio.create_task_group() as gamblers:
            for code in GAMBLED:
                gamblers.start_soon(give_up_around_expiry, code)

            # The victim claims ten tasks and dies at once; the four survivors' resolvers all wake for
            # the same expiry and race over every lease.
            for code in RETRIED + DOOMED:
                await victim.call("task_claim", task=code)
            victim.kill()
            [row] = rows(
                db, "SELECT count(*) AS n FROM tasks WHERE claimed_by = 'victim' AND status = 'in_progress'"
            )
            assert row["n"] == 10, "nobody may recover them yet: the leases run for another second"

            # Meanwhile s1 holds the B tasks, and two processes acting as s1 report each blocker at once.
            for code in BLOCKED:
                await s1.call("task_claim", task=code)
            for code in BLOCKED:
                raced = await together(
                    s1.result("task_block", task=code, reason="need the schema"),
                    s2.result("task_block", task=code, reason="need the schema", agent="s1"),
                )
                assert sorted(o.is_error for o in raced) == [False, True], f"{code}: one blocker must win"
                [lost] = [o for o in raced if o.is_error]
                assert lost.content[0].text.startswith("invalid_transition:"), lost.content[0].text
            # ...and two orchestrator processes answer each at once: one unblock wins.
            for code in BLOCKED:
                raced = await together(
                    boss.result("task_unblock", task=code, answer="use v2"),
                    s2.result("task_unblock", task=code, answer="use v2", agent="boss"),
                )
                assert sorted(o.is_error for o in raced) == [False, True], f"{code}: one unblock must win"

            async def all_recovered() -> bool:
                got = rows(db, "SELECT code, status FROM tasks WHERE code LIKE 'E-%' OR code LIKE 'F-%'")
                return all(r["status"] == ("ready" if r["code"].startswith("E") else "failed") for r in got)

            await poll("every dead lease to be expired", all_recovered, ESC_LEASE + 10)
        assert len(outcomes) == len(GAMBLED) and set(outcomes.values()) <= {"failed", "lease_lost"}, outcomes
        expired_first = [c for c, o in outcomes.items() if o == "lease_lost"]
        print(f"\nfail vs expiry: {len(expired_first)} of {len(GAMBLED)} expired first")

        want = {c: ["lease_expired"] for c in RETRIED}
        want |= {c: ["max_attempts"] for c in DOOMED}
        want |= {c: ["dependency_failed"] for c in DEPENDENTS}
        want |= {c: ["blocker"] for c in BLOCKED}
        want |= {c: ["max_attempts"] for c in GAMBLED}
        want |= {c: ["dependency_failed"] for c in GAMBLED_DEPENDENTS}
        for n, (code, triggers) in enumerate(want.items()):
            got = await (boss, planner, s1, s2, racer)[n % 5].call("task_get", task=code)
            assert [e["trigger"] for e in got.get("escalations") or []] == triggers, code
            if code in RETRIED:
                assert (got["task"]["status"], got["task"]["attempts"]) == ("ready", 1)
                system = [n["body"] for n in got["notes"] if "expired" in n["body"]]
                assert len(system) == 1, system
            if code in BLOCKED:
                assert (got["task"]["status"], got["task"]["claimed_by"]) == ("in_progress", "s1")
            if code in GAMBLED:
                assert (got["task"]["status"], got["task"]["attempts"]) == ("failed", 1)

        events = rows(
            db,
            "SELECT kind, subject FROM events WHERE kind IN ('lease.expired', 'task.escalated', 'task.failed')",
        )
        expired = Counter(e["subject"] for e in events if e["kind"] == "lease.expired")
        assert expired == Counter(RETRIED + DOOMED + expired_first)
        assert Counter(e["subject"] for e in events if e["kind"] == "task.failed") == Counter(
            DOOMED + list(GAMBLED)
        )
        assert Counter(e["subject"] for e in events if e["kind"] == "task.escalated") == Counter(list(want))
        escalations = rows(db, "SELECT m.subject FROM messages m WHERE m.kind = 'escalation'")
        assert len(escalations) == len(want) == len(rows(db, "SELECT id FROM escalations"))

        # The orchestrator (role) and the planner (creator) each read every escalation once,
        # whichever process they read through.
        for reader, via in (("boss", boss), ("boss", s1), ("planner", planner), ("planner", s2)):
            inbox = await via.call("message_inbox", agent=reader, limit=200)
            subjects = [m["subject"] for m in inbox["messages"] if m["kind"] == "escalation"]
            # Subjects read "[trigger] CODE: title".
            assert Counter(s.split(":")[0] for s in subjects) == Counter(
                f"[{t[0]}] {c}" for c, t in want.items()
            )
            unread = [m for m in inbox["messages"] if m["kind"] == "escalation" and not m["read"]]
            assert len(unread) == len(want), reader

        # Two orchestrators in two processes acknowledge every escalation at once: each is settled
        # once, by the first acknowledgement, and a later one moves nothing.
        await s2.call("agent_init", agent="boss2", role="orchestrator")
        ids = sorted(
            m["id"]
            for m in (await boss.call("message_inbox", limit=200))["messages"]
            if m["kind"] == "escalation"
        )
        assert len(ids) == len(want)
        await together(
            boss.call("message_ack", ids=ids),
            s2.call("message_inbox", ack=list(reversed(ids)), agent="boss2", limit=1),
        )
        settled = {
            r["id"]: r["acked_at"]
            for r in rows(db, "SELECT id, acked_at FROM messages WHERE kind = 'escalation'")
        }
        assert sorted(settled) == ids and None not in settled.values(), "every escalation settled"
        await together(boss.call("message_ack", ids=ids), s2.call("message_ack", ids=ids, agent="boss2"))
        again = {
            r["id"]: r["acked_at"]
            for r in rows(db, "SELECT id, acked_at FROM messages WHERE kind = 'escalation'")
        }
        assert again == settled, "a later acknowledgement moved a settled escalation"
        for who, via in (("boss", boss), ("boss2", s2)):
            left = await via.call("message_inbox", agent=who, limit=200)
            assert all(m["read"] and m["acked"] for m in left["messages"] if m["kind"] == "escalation"), who


# ------------------------------------------------------------------ 5. memory

SETS_EACH = 25
TTL = 1.0  # seconds


async def test_racing_memory_sets_from_four_processes_number_versions_gaplessly_and_ttl_expiry_agrees_everywhere(
    tmp_path,
):
    db = tmp_path / "coord.db"
    async with fleet(tmp_path, db) as f:
        procs = await f.start(("m0", "m0"), ("m1", "m1"), ("m2", "m2"), ("m0-bis", "m0"))
        m0, m1, m2, m0_bis = procs
        results: list[dict[str, Any]] = []

        async def hammer(proc: Proc, key: str, scope: str, n: int) -> None:
            for i in range(n):
                out = await proc.call("memory_set", key=key, value=f"{proc.label} {i}", scope=scope)
                results.append(out)

        # Project scope, four processes; agent scope, two processes of the same agent.
        await together(
            *(hammer(p, "shared/plan", "project", SETS_EACH) for p in procs),
            hammer(m0, "mine", "agent", SETS_EACH),
            hammer(m0_bis, "mine", "agent", SETS_EACH),
        )
        for key, scope, n in (("shared/plan", "project", 4 * SETS_EACH), ("mine", "agent:m0", 2 * SETS_EACH)):
            mine = [r for r in results if r["key"] == key]
            assert sorted(r["version"] for r in mine) == list(range(1, n + 1)), f"{key}: versions not 1..{n}"
            [last] = [r for r in mine if r["version"] == n]
            for proc in procs:
                got = await proc.call(
                    "memory_get", key=key, scope="project" if scope == "project" else "agent", agent="m0"
                )
                assert (got["value"], got["version"], got["updated_by"]) == (
                    last["value"],
                    n,
                    last["updated_by"],
                )
        assert (await m1.error("memory_get", key="mine")).startswith("not_found:"), (
            "m0's memory is m0's alone"
        )
        [row] = rows(db, "SELECT count(*) AS n FROM memory WHERE key = 'shared/plan'")
        assert row["n"] == 1

        # TTL: set in one process, watched from all four. Once any process finds it gone, a read that
        # starts afterwards anywhere finds it gone too, and nobody sees it before its expiry.
        made = await m1.call("memory_set", key="ttl/k", value="short-lived", scope="project", ttl_seconds=TTL)
        set_at = time.time()
        gone_at: dict[str, float] = {}
        first_gone = [float("inf")]

        async def watch(proc: Proc) -> None:
            while True:
                started = time.time()
                got = await proc.result("memory_get", key="ttl/k", scope="project")
                listed = await proc.call("memory_list", prefix="ttl/", scope="project")
                if got.is_error:
                    assert got.content[0].text.startswith("not_found:"), got.content[0].text
                    assert listed["entries"] == [], f"{proc.label}: memory_list still shows an expired entry"
                    gone_at[proc.label] = started
                    first_gone[0] = min(first_gone[0], time.time())
                    return
                assert started < first_gone[0], (
                    f"{proc.label} still read ttl/k after another process saw it gone"
                )
                assert got.structured_content["version"] == made["version"]
                await anyio.sleep(0.02)

        with anyio.fail_after(TTL + 10):
            await together(*(watch(p) for p in procs))
        assert min(gone_at.values()) >= set_at + TTL - 0.2, f"gone too soon: {gone_at}"
        assert max(gone_at.values()) - min(gone_at.values()) < 1.0, f"processes disagree on expiry: {gone_at}"
        # Racing sets of the expired key start a fresh entry: versions again 1..n, one row.
        results.clear()
        await together(*(hammer(p, "ttl/k", "project", 5) for p in procs))
        assert sorted(r["version"] for r in results) == list(range(1, 21))
        assert rows(db, "SELECT count(*) AS n FROM memory WHERE key = 'ttl/k'")[0]["n"] == 1
        assert (await m2.call("memory_get", key="ttl/k", scope="project"))["version"] == 20


# ------------------------------------------------------------------ 3b. changes push never hears of
#
# Push learns what changed only from the events a commit wrote (server/push.py, Push.check and
# Push._affected). A write that records no event, or that changes a document other than its
# event's subject, would change a resource its subscribers are never told about: these cases were
# found that way. Each first checks that the document did change, then that a subscriber in
# another process heard of it.

BEACON = "taskloom://tasks/BEACON"


class MissedNotification(AssertionError):
    """A document changed and its subscriber was not told (as opposed to a broken setup)."""


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module-wide, so the fixture below can keep one fleet for the tests that share it.
    return "asyncio"


@pytest.fixture(scope="module")
async def gap_rig(tmp_path_factory) -> AsyncIterator[tuple[Proc, Proc]]:
    tmp = tmp_path_factory.mktemp("gaps")
    async with fleet(tmp, tmp / "coord.db") as f:
        watcher, actor = await f.start(("watcher", "boss"), ("actor", "alice"))
        await together(watcher.call("agent_init"), actor.call("agent_init"))
        await watcher.call("task_create", tasks=[{"title": "beacon", "code": "BEACON"}])
        await watcher.subscribe(BEACON)
        yield watcher, actor


async def read_json(proc: Proc, uri: str) -> dict[str, Any]:
    import json

    assert proc.client is not None
    with anyio.fail_after(CALL_TIMEOUT):
        [content] = (await proc.client.read_resource(uri)).contents
    return json.loads(content.text)


async def heard_since(watcher: Proc, actor: Proc, uri: str, since: float) -> int:
    """Notifications for `uri` since `since`, counted once everything committed before now was pushed.

    Two beacon changes, each awaited: the watcher handles commits in order, one pass at a time, and
    the second beacon lands in a later pass than anything committed before the first, so whatever
    that earlier commit caused is already on the pipe ahead of the second beacon's notification.
    """
    for n in range(2):
        before = time.monotonic()
        await actor.call("task_note", task="BEACON", body=f"barrier {n}")
        await watcher.updates.wait_for(BEACON, before, "watcher (beacon)")
    return watcher.updates.count(uri, since)


async def assert_change_heard(watcher: Proc, actor: Proc, uri: str, change: Any) -> None:
    await watcher.subscribe(uri)
    # Let the watcher catch up first: what was committed before is not the change under test.
    await heard_since(watcher, actor, uri, 0.0)
    old = await read_json(watcher, uri)
    since = time.monotonic()
    await change
    assert await read_json(watcher, uri) != old, "precondition: the change shows in the document"
    if await heard_since(watcher, actor, uri, since) < 1:
        raise MissedNotification(f"{uri} changed, and its subscriber in another process was not told")


async def test_the_gap_probe_hears_an_acknowledgement_made_in_another_process(gap_rig):
    # The probe on a change push has always mapped (message.acked): the control for the cases below.
    watcher, actor = gap_rig
    sent = await watcher.call("message_send", to="alice", body="ack me")
    await assert_change_heard(
        watcher, actor, "taskloom://agents/alice/inbox", actor.call("message_ack", ids=[sent["id"]])
    )


async def test_marking_messages_read_in_one_process_notifies_that_inbox_s_subscribers_in_another(gap_rig):
    watcher, actor = gap_rig
    await watcher.call("message_send", to="alice", body="please read me")
    uri = "taskloom://agents/alice/inbox"
    await assert_change_heard(watcher, actor, uri, actor.call("message_inbox", mark_read=True))


async def test_a_heartbeat_in_one_process_notifies_the_task_s_subscribers_in_another(gap_rig):
    watcher, actor = gap_rig
    await watcher.call("task_create", tasks=[{"title": "leased", "code": "HB-1"}])
    await actor.call("task_claim", task="HB-1")
    await assert_change_heard(watcher, actor, "taskloom://tasks/HB-1", actor.call("task_heartbeat", task="HB-1"))


async def test_a_dependency_finishing_notifies_subscribers_of_a_dependent_still_waiting(gap_rig):
    watcher, actor = gap_rig
    await watcher.call(
        "task_create",
        tasks=[
            {"title": "first", "code": "DP-1"},
            {"title": "second", "code": "DP-3"},
            {"title": "needs both", "code": "DP-2", "depends_on": ["DP-1", "DP-3"]},
        ],
    )
    await actor.call("task_claim", task="DP-1")
    done = actor.call("task_done", task="DP-1", summary="schema merged")
    await assert_change_heard(watcher, actor, "taskloom://tasks/DP-2", done)


async def test_claiming_a_task_with_a_thread_notifies_the_new_holder_s_inbox_subscribers(gap_rig):
    watcher, actor = gap_rig
    await watcher.call("task_create", tasks=[{"title": "discussed", "code": "TH-1"}])
    await watcher.call("message_send", to="task:TH-1", body="context for whoever takes this")
    await actor.call("agent_init", agent="carol")
    claim = actor.call("task_claim", task="TH-1", agent="carol")
    await assert_change_heard(watcher, actor, "taskloom://agents/carol/inbox", claim)
