"""Waiting calls across real processes: `taskloom serve` processes on one SQLite file, SDK clients.

task_claim(wait_seconds=...) and message_inbox(wait_seconds=...) hear of changes through each
process's change feed, woken only through the database file. Proved here with real server
processes (stdio and streamable HTTP) and the MCP SDK's own clients:
- a waiter in one process is handed a task created in another;
- eight waiters in eight processes and one ready task: one claim, the longest waiter's; the
  others keep waiting, and then each gets one of the next seven, none twice;
- a cancelled wait (notifications/cancelled) claims nothing and leaves the line;
- a client that goes away mid-wait (killed, or its stdin closed; a stateless HTTP client killed;
  a session HTTP client killed) is never handed a lease, and a stdio server exits at once;
- the empty answer at the deadline names its outlook, and --max-wait caps a longer wait;
- a waiting inbox hears a message sent from another process;
- the issue's "done when": three scripted workers (tests/faults/waiting_worker.py) on the
  worker profile run a three-stream plan to "finished" with waiting claims only.

No test sleeps for a result: each waits for the state it needs (rows in the database, a call
returning, a process exiting) with anyio.fail_after as the only bound.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from taskloom.server.errors import error_of
from tests.faults.common import exec_server, integrity, rows, serve_argv
from tests.server.test_transports import TASKLOOM, serving

PROJECT = "wire"  # serving() (tests/server/test_transports.py) serves this project
BOUND = 30.0  # seconds: bounds a broken test only; every wait below ends on the state it waits for
POLL = 0.02  # seconds between looks at the database while waiting for a state
LONG_WAIT = 40.0  # wait_seconds for calls that must still be waiting when the test acts
WORKER = Path(__file__).with_name("waiting_worker.py")


# ------------------------------------------------------------------ server processes and clients


@dataclass
class Served:
    """One `taskloom serve` stdio process, held open by its own task, and the SDK client on it."""

    agent: str
    pidfile: Path
    log: Path
    client: Client | None = None
    failure: BaseException | None = None
    ready: anyio.Event = field(default_factory=anyio.Event)
    stop: anyio.Event = field(default_factory=anyio.Event)
    exited: anyio.Event = field(default_factory=anyio.Event)

    async def result(self, tool: str, bound: float = BOUND, **args: Any) -> Any:
        assert self.client is not None, f"{self.agent}'s server is not running"
        with anyio.fail_after(bound):
            return await self.client.call_tool(tool, args)

    async def call(self, tool: str, bound: float = BOUND, **args: Any) -> dict[str, Any]:
        """A tool call that must succeed; its structured result."""
        result = await self.result(tool, bound, **args)
        assert not result.is_error, f"{self.agent}: {tool}({args}) failed: {result.content[0].text}"
        return result.structured_content


def pid_wrapped(argv: list[str], pidfile: Path) -> list[str]:
    """`argv` run by a shell that writes its pid first: `exec` keeps the pid, and the SDK starts
    servers in their own session, so it is also the process group the teardown kills."""
    return ["-c", f"echo $$ > {shlex.quote(str(pidfile))}; exec {shlex.join(argv)}"]


@asynccontextmanager
async def stdio_servers(
    tmp_path: Path, db: Path, *agents: str, extra: tuple[str, ...] = ()
) -> AsyncIterator[list[Served]]:
    """One stdio server per agent on `db`, started concurrently; all killed on the way out."""
    servers = [Served(a, tmp_path / f"{a}.pid", tmp_path / f"{a}.stderr") for a in agents]

    async def hold(s: Served) -> None:
        argv = [TASKLOOM, *serve_argv(db, PROJECT, *extra)]
        params = StdioServerParameters(
            command="/bin/sh",
            args=pid_wrapped(argv, s.pidfile),
            env={"TASKLOOM_AGENT": s.agent},
            cwd=str(tmp_path),
        )
        try:
            with open(s.log, "w") as errlog:  # noqa: ASYNC230 -- a local file, before the server starts
                transport = stdio_client(params, errlog=errlog)
                async with Client(transport, mode="legacy", read_timeout_seconds=LONG_WAIT + BOUND) as client:
                    s.client = client
                    s.ready.set()
                    await s.stop.wait()
        except Exception as exc:  # noqa: BLE001 -- reported by the start-up check or the logs check
            s.failure = exc
        finally:
            s.client = None
            s.ready.set()
            s.exited.set()

    async with anyio.create_task_group() as tg:
        for s in servers:
            tg.start_soon(hold, s)
        try:
            with anyio.fail_after(BOUND):
                for s in servers:
                    await s.ready.wait()
            failed = {
                s.agent: f"{s.failure!r} {s.log.read_text()[-1500:]}" for s in servers if s.client is None
            }
            assert not failed, f"servers did not start: {failed}"
            yield servers
        finally:
            with anyio.CancelScope(shield=True):
                for s in servers:
                    s.stop.set()
                with anyio.move_on_after(BOUND):
                    for s in servers:
                        await s.exited.wait()
                for s in servers:
                    if not s.exited.is_set():  # the SDK kills and reaps the ones that exited
                        kill_group(s.pidfile)
    failed = {s.agent: repr(s.failure) for s in servers if s.failure is not None}
    assert not failed, f"client sessions failed: {failed}"
    troubled = {s.agent: s.log.read_text()[-2000:] for s in servers if "Traceback" in s.log.read_text()}
    assert not troubled, f"server logs show tracebacks: {troubled}"
    assert integrity(db) == "ok"


def alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def kill_group(pidfile: Path) -> None:
    """SIGKILL the process group a pid file names, if its leader is still a taskloom server (once
    reaped, the pid may be reused: only a live group leader running taskloom is killed)."""
    try:
        pid = int(pidfile.read_text())
        if os.getpgid(pid) != pid or b"taskloom" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        os.killpg(pid, signal.SIGKILL)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pass


@asynccontextmanager
async def client_process(tmp_path: Path, name: str, *args: str) -> AsyncIterator[subprocess.Popen]:
    """tests/faults/waiting_worker.py in its own process group, with stdout piped; always killed."""
    with open(tmp_path / f"{name}.client.stderr", "w") as err:  # noqa: ASYNC230 -- a local file
        proc = subprocess.Popen(  # noqa: ASYNC220 -- Popen returns at once; its pipe is read in a thread
            [sys.executable, str(WORKER), *args],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # before the wait reaps it, so the group is still ours
        except ProcessLookupError:
            pass
        proc.wait(10)
        proc.stdout.close()


async def next_line(proc: subprocess.Popen) -> dict[str, Any]:
    """The client's next JSON line (in a thread: a pipe read blocks)."""
    line = await anyio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
    assert line, f"client exited ({proc.poll()}) without a line"
    return json.loads(line)


# ------------------------------------------------------------------ the database, read directly


async def until(what: str, check: Callable[[], Any], bound: float = BOUND) -> Any:
    """Look at `check()` until it is truthy; fail after `bound` seconds."""
    try:
        with anyio.fail_after(bound):
            while not (got := check()):
                await anyio.sleep(POLL)
    except TimeoutError:
        raise AssertionError(f"still waiting after {bound} s for {what}") from None
    return got


def line(db: Path) -> list[str]:
    """The agents waiting in task_claim, oldest first (the table claim_waiters)."""
    return [r["agent"] for r in rows(db, "SELECT agent FROM claim_waiters ORDER BY id")]


def task(db: Path, code: str) -> dict[str, Any]:
    [row] = rows(db, "SELECT status, claimed_by, attempts FROM tasks WHERE code = ?", code)
    return dict(row)


def claims(db: Path) -> list[tuple[str, str]]:
    """(task, agent) of every task.claimed event, in order."""
    return [
        (r["subject"], r["agent"])
        for r in rows(db, "SELECT subject, agent FROM events WHERE kind = 'task.claimed' ORDER BY id")
    ]


async def waiting_call(
    tg: anyio.abc.TaskGroup, s: Served, out: dict[str, Any], tool: str = "task_claim", **args: Any
) -> None:
    """Start `tool` with wait_seconds=LONG_WAIT in the background; its result lands in out[agent]."""

    async def run() -> None:
        out[s.agent] = await s.call(tool, bound=LONG_WAIT + BOUND, wait_seconds=LONG_WAIT, **args)

    tg.start_soon(run)


# ------------------------------------------------------------------ 1. across two processes


async def test_a_waiting_claim_in_one_process_is_handed_a_task_created_in_another(tmp_path):
    db = tmp_path / "w.db"
    async with stdio_servers(tmp_path, db, "waiter", "boss") as (waiter, boss):
        await waiter.call("agent_init")
        got: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:
            await waiting_call(tg, waiter, got)
            await until("the waiter to join the line", lambda: line(db) == ["waiter"])
            await boss.call("task_create", tasks=[{"title": "made elsewhere", "code": "T-1"}])
        assert got["waiter"]["claimed"] is True
        assert got["waiter"]["detail"]["task"]["code"] == "T-1"
        assert task(db, "T-1")["claimed_by"] == "waiter"
        assert line(db) == []


# ------------------------------------------------------------------ 2. eight waiters, eight processes


@pytest.mark.slow
async def test_eight_waiters_in_eight_processes_one_task_one_claim_by_the_longest_waiter_then_one_each(
    tmp_path,
):
    db = tmp_path / "w.db"
    names = [f"w{i}" for i in range(8)]
    async with stdio_servers(tmp_path, db, *names) as waiters:
        got: dict[str, Any] = {}

        async def create(*codes: str) -> None:
            # Through the youngest waiter's process (a server serves calls while one waits): the
            # tasks reach the seven other processes only through the database file.
            await waiters[-1].call(
                "task_create", tasks=[{"title": c, "code": c} for c in codes], agent="boss"
            )

        async with anyio.create_task_group() as tg:
            for n, w in enumerate(waiters, 1):
                await waiting_call(tg, w, got, agent=w.agent)
                # One at a time, so the line's order is the order they were started in.
                await until(f"{w.agent} to join the line", lambda n=n: len(line(db)) == n)
            assert line(db) == names

            await create("T-0")
            await until("a claim", lambda: got)
            assert list(got) == ["w0"], "the longest waiter gets the task, and only it returns"
            assert got["w0"]["detail"]["task"]["code"] == "T-0"
            assert claims(db) == [("T-0", "w0")]
            assert task(db, "T-0")["claimed_by"] == "w0"
            assert line(db) == names[1:], "the other seven are still waiting, in order"

            await create(*(f"T-{i}" for i in range(1, 8)))
        assert {a: r["claimed"] for a, r in got.items()} == dict.fromkeys(names, True)
        handed = {a: r["detail"]["task"]["code"] for a, r in got.items()}
        assert sorted(handed.values()) == [f"T-{i}" for i in range(8)], "each task to exactly one waiter"
        assert Counter(t for t, _ in claims(db)) == {f"T-{i}": 1 for i in range(8)}, "no task claimed twice"
        assert {t: a for t, a in claims(db)} == {t: a for a, t in handed.items()}
        assert line(db) == []


# ------------------------------------------------------------------ 3. cancellation


async def test_a_cancelled_wait_claims_nothing_and_leaves_the_line(tmp_path):
    db = tmp_path / "w.db"
    async with stdio_servers(tmp_path, db, "quitter") as (quitter,):
        await quitter.call("agent_init")
        with anyio.CancelScope() as request:
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(quitter.call, "task_claim", LONG_WAIT + BOUND, wait_seconds=LONG_WAIT))
                await until("the wait to join the line", lambda: line(db) == ["quitter"])
                # The SDK sends notifications/cancelled for a request whose awaiting task is cancelled.
                request.cancel()
        await until("the cancelled wait to leave the line", lambda: line(db) == [])
        # The same server process, still running, then sees a task become ready: nobody takes it.
        await quitter.call("task_create", tasks=[{"title": "after", "code": "T-1"}], agent="boss")
        assert task(db, "T-1") == {"status": "ready", "claimed_by": None, "attempts": 0}
        assert claims(db) == []
        # And the session still works: a new wait gets it.
        again = await quitter.call("task_claim", wait_seconds=5)
        assert again["claimed"] and again["detail"]["task"]["code"] == "T-1"


# ------------------------------------------------------------------ 4. the client goes away


@pytest.mark.parametrize("how", ["client killed", "stdin closed"])
async def test_a_stdio_server_whose_client_goes_away_mid_wait_exits_at_once_and_claims_nothing(tmp_path, how):
    db = tmp_path / "w.db"
    pidfile = tmp_path / "ghost.pid"
    try:
        if how == "client killed":
            args = [
                "wait",
                "--agent",
                "ghost",
                "--db",
                str(db),
                "--project",
                PROJECT,
                "--pidfile",
                str(pidfile),
            ]
            async with client_process(tmp_path, "ghost", *args, "--wait-seconds", "3600") as client:
                assert (await next_line(client))["event"] == "waiting"
                await until("the wait to join the line", lambda: line(db) == ["ghost"])
                os.kill(client.pid, signal.SIGKILL)  # the client only: its server sees its stdin end
        else:
            server = exec_server(tmp_path, serve_argv(db, PROJECT), "ghost", "ghost")
            pidfile.write_text(str(server.pid))
            try:
                server.wire.initialize()
                server.wire.request("tools/call", {"name": "task_claim", "arguments": {"wait_seconds": 3600}})
                await until("the wait to join the line", lambda: line(db) == ["ghost"])
                server.wire.close_stdin()
                with anyio.fail_after(BOUND):
                    await anyio.to_thread.run_sync(server.proc.wait)
            finally:
                server.cleanup()
        # The wait is capped at 50 s (--max-wait's default) and a stdio server drains calls for up
        # to 60 s at end of input: exiting within the bound shows the hang-up ended the wait.
        await until("the server to exit", lambda: not alive(int(pidfile.read_text())), bound=20)
        assert line(db) == [], "the wait left the line on its way out"
        async with stdio_servers(tmp_path, db, "boss") as (boss,):
            await boss.call("task_create", tasks=[{"title": "after", "code": "T-1"}])
            assert task(db, "T-1") == {"status": "ready", "claimed_by": None, "attempts": 0}
        assert claims(db) == []
    finally:
        kill_group(pidfile)


# "auto" speaks the stateless 2026 protocol: one POST per call, no session. "legacy" the handshake
# era: a session, each call a POST whose answer streams back on that POST's connection.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_http_client_killed_mid_wait_is_never_handed_a_lease(tmp_path, mode):
    db = tmp_path / "w.db"
    with serving(tmp_path, "http", db, agent="boss") as (url, server, log):
        args = ["wait", "--agent", "ghost", "--url", url, "--mode", mode, "--wait-seconds", str(LONG_WAIT)]
        async with client_process(tmp_path, "ghost", *args) as client:
            assert (await next_line(client))["event"] == "waiting"
            await until("the wait to join the line", lambda: line(db) == ["ghost"])
            os.killpg(client.pid, signal.SIGKILL)
            # The server sees the connection close and ends the wait (well before its 40 s).
            await until("the dead caller's wait to leave the line", lambda: line(db) == [], bound=10)
        async with Client(url, mode=mode) as boss, Client(url, mode=mode) as live:
            made = await boss.call_tool("task_create", {"tasks": [{"title": "after", "code": "T-1"}]})
            assert not made.is_error
            assert task(db, "T-1") == {"status": "ready", "claimed_by": None, "attempts": 0}
            assert claims(db) == []
            # A caller that stays connected still waits, and is handed the next task.
            await live.call_tool("task_claim", {"task": "T-1", "agent": "live"})
            got: dict[str, Any] = {}

            async def wait() -> None:
                with anyio.fail_after(LONG_WAIT + BOUND):
                    answer = await live.call_tool("task_claim", {"wait_seconds": LONG_WAIT, "agent": "live"})
                got.update(answer.structured_content)

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await until("the live caller to join the line", lambda: line(db) == ["live"])
                await boss.call_tool("task_create", {"tasks": [{"title": "next", "code": "T-2"}]})
        assert got["claimed"] and got["detail"]["task"]["code"] == "T-2"
        assert claims(db) == [("T-1", "live"), ("T-2", "live")]
        assert server.poll() is None and "Traceback" not in log.read_text()


# ------------------------------------------------------------------ 5. the deadline


async def test_a_wait_that_ends_empty_names_its_outlook_and_max_wait_caps_a_longer_wait(tmp_path):
    db = tmp_path / "w.db"
    async with (
        stdio_servers(tmp_path, db, "front") as (front,),
        stdio_servers(tmp_path, db, "capped", extra=("--max-wait", "0.5")) as (capped,),
    ):
        boss = partial(front.call, agent="boss")  # the plan is laid out through front's process
        await front.call("agent_init", role="frontend")
        await capped.call("agent_init", role="frontend")

        async def outlooks() -> tuple[str, str]:
            short = await front.call("task_claim", bound=BOUND, wait_seconds=0.5)
            # Capped to 0.5 s by --max-wait: an hour asked for, the bound allows BOUND seconds.
            long = await capped.call("task_claim", bound=BOUND, wait_seconds=3600)
            assert not short["claimed"] and not long["claimed"]
            assert short["outlook"] == long["outlook"]
            return short["outlook"], short["message"]

        outlook, message = await outlooks()  # nothing at all
        assert outlook == "finished" and "project is finished" in message

        await boss("task_create", tasks=[{"title": "server side", "code": "B-1", "role": "backend"}])
        outlook, message = await outlooks()
        assert outlook == "other_work" and "other roles" in message

        page = {"title": "the page", "code": "F-1", "role": "frontend", "depends_on": ["B-1"]}
        await boss("task_create", tasks=[page])
        await boss("task_claim", task="B-1")
        outlook, message = await outlooks()
        assert outlook == "wait", message
        assert "1 task is waiting on work in progress" in message
        assert line(db) == []
        assert claims(db) == [("B-1", "boss")]


# ------------------------------------------------------------------ 6. a waiting inbox


async def test_a_waiting_inbox_hears_a_message_sent_from_another_process(tmp_path):
    db = tmp_path / "w.db"
    async with stdio_servers(tmp_path, db, "bob", "alice") as (bob, alice):
        await bob.call("agent_init")
        got: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:
            await waiting_call(tg, bob, got, "message_inbox", mark_read=True)
            await alice.call("message_send", to="bob", body="schema is ready")
        assert [m["body"] for m in got["bob"]["messages"]] == ["schema is ready"]
        assert got["bob"]["unread"] == 0


# ------------------------------------------------------------------ 7. done when: workers that only wait


PLAN = {
    "streams": [
        {"code": "core", "name": "Core"},
        {"code": "api", "name": "API", "depends_on": ["core"]},
        {"code": "docs", "name": "Docs", "depends_on": ["api"]},
    ],
    "tasks": [
        {"code": "C-1", "title": "schema", "stream": "core"},
        {"code": "C-2", "title": "models", "stream": "core", "depends_on": ["C-1"]},
        {"code": "C-3", "title": "storage", "stream": "core", "depends_on": ["C-1"]},
        {"code": "A-1", "title": "read endpoints", "stream": "api"},
        {"code": "A-2", "title": "write endpoints", "stream": "api"},
        {"code": "A-3", "title": "auth", "stream": "api", "depends_on": ["A-1", "A-2"]},
        {"code": "D-1", "title": "guide", "stream": "docs"},
        {"code": "D-2", "title": "reference", "stream": "docs"},
        {"code": "D-3", "title": "changelog", "stream": "docs", "depends_on": ["D-1"]},
    ],
}


@pytest.mark.slow
async def test_three_scripted_workers_on_the_worker_profile_wait_their_way_through_a_three_stream_plan(
    tmp_path,
):
    db = tmp_path / "w.db"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    imported = await anyio.run_process(
        [TASKLOOM, "import", str(plan), "--db", str(db), "--project", PROJECT], check=False, cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr.decode()
    names = ["ann", "ben", "cid"]
    events: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    codes: dict[str, int | None] = {}

    async def run(name: str) -> None:
        args = ["work", "--agent", name, "--db", str(db), "--project", PROJECT]
        args += ["--pidfile", str(tmp_path / f"{name}.pid"), "--wait-seconds", "50"]
        async with client_process(tmp_path, name, *args) as proc:
            while said := await anyio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True):
                events[name].append(json.loads(said))
            codes[name] = await anyio.to_thread.run_sync(proc.wait, abandon_on_cancel=True)

    try:
        async with stdio_servers(tmp_path, db, "lead") as (lead,):
            # The lead holds the first task, so every worker starts by waiting: all three are in
            # line before any work is ready, and they share what follows.
            await lead.call("task_claim", task="C-1")
            # The workers wait 50 s at a time: one that sat out a wait after the project finished
            # would miss this bound.
            with anyio.move_on_after(BOUND + 10) as bound:
                async with anyio.create_task_group() as tg:
                    for name in names:
                        tg.start_soon(run, name)
                    await until("the three workers to wait in line", lambda: sorted(line(db)) == names)
                    await lead.call("task_done", task="C-1", summary="the schema, by the lead")
            assert not bound.cancelled_caught, f"workers still running after {BOUND + 10} s: {events}"
    finally:
        for name in names:
            kill_group(tmp_path / f"{name}.pid")
    logs = {n: (tmp_path / f"{n}.client.stderr").read_text()[-2000:] for n in names}
    assert codes == dict.fromkeys(names, 0), f"workers did not all exit 0: {codes} {logs}"
    for name in names:
        assert events[name][0]["event"] == "briefed"
        said = [e["event"] for e in events[name]]
        assert said[-2:] == ["empty", "exit"] and events[name][-2]["outlook"] == "finished", events[name]
        assert "empty" not in said[:-2], f"{name} was answered empty before the end: {events[name]}"
    done = [e["task"] for n in names for e in events[n] if e["event"] == "done"]
    assert sorted(done) == sorted(t["code"] for t in PLAN["tasks"] if t["code"] != "C-1")
    finished = [r["subject"] for r in rows(db, "SELECT subject FROM events WHERE kind = 'task.done'")]
    assert Counter(finished) == {t["code"]: 1 for t in PLAN["tasks"]}, "every task done exactly once"
    assert Counter(t for t, _ in claims(db)) == {t["code"]: 1 for t in PLAN["tasks"]}
    assert {r["status"] for r in rows(db, "SELECT status FROM tasks")} == {"done"}
    assert {r["status"] for r in rows(db, "SELECT status FROM streams")} == {"done"}
    assert line(db) == []
    assert integrity(db) == "ok"


# ------------------------------------------------------------------ 7. a waiting call refused over HTTP


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_waiting_call_refused_over_http_answers_its_own_error_not_internal(tmp_path, mode):
    # Found by tests/pg/test_pg_faults.py: a storage error during a waiting claim reached a
    # session HTTP client as `internal` ("a taskloom bug"), wrapped by the disconnect watcher's
    # task group. Any error raised inside the wait took the same road.
    with serving(tmp_path, "http", tmp_path / "w.db", agent="w") as (url, server, log):
        async with Client(url, mode=mode) as client:
            claim = await client.call_tool("task_claim", {"wait_seconds": 5, "stream": "S-NOPE"})
            inbox = await client.call_tool("message_inbox", {"wait_seconds": 5, "task": "NOPE"})
        for result in (claim, inbox):
            assert result.is_error and error_of(result)["code"] == "not_found", result.content[0].text
        assert server.poll() is None and "Traceback" not in log.read_text()
