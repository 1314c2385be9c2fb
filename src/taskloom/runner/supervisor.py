"""The runner's loop: start a headless agent per unit of ready work and see each one through.

Each pass (on a change from the feed, a child's exit, or the tick) it reaps workers that ended,
hands back what they left unfinished, stops the ones over their time, keeps the live ones'
leases, and starts workers for ready units up to the cap of *live* workers. The database is the
only shared state: the slot of a unit is a row (services/runs.py), so two runners never start
two workers for one unit, and a runner killed -9 leaves rows the next one adopts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import psutil

from taskloom.changes import ChangeFeed
from taskloom.cli import tokens
from taskloom.domain import runs as rules
from taskloom.domain.events import CLAIM_WAKE
from taskloom.errors import TaskloomError
from taskloom.runner import presets, procs, worktrees
from taskloom.runner.settings import AgentSettings, RunnerConfig
from taskloom.server import auth
from taskloom.services import briefing, runs
from taskloom.services.app import Taskloom

log = logging.getLogger(__name__)

HOLD = 30.0  # seconds a runner's rows stay its own without renewal
RENEW_EVERY = 10.0  # seconds between renewals of the rows and of the live workers' leases
TOKEN_TTL = 24 * 3600.0  # seconds a run's HTTP token lives at most when no timeout bounds the run


@dataclass(frozen=True)
class Options:
    per: str = "task"  # "task" or "stream": what one worker is started for
    max_workers: int = 4
    role: str | None = None  # only this role's work
    until_idle: bool = False
    grace: float = 10.0  # seconds between SIGTERM and SIGKILL of a worker's group
    worker_timeout: float | None = None  # seconds a worker may run (a preset's timeout wins)
    result_grace: float = 30.0  # seconds an agent may linger after reporting its result
    log_cap: int = 10 * 1024 * 1024  # bytes of log per worker before it is rotated
    backoff: float = rules.BACKOFF_FIRST  # seconds before a unit's second worker; doubling after
    tick: float = 1.0  # seconds between passes when nothing wakes the loop


@dataclass
class Worker:
    run_id: int
    agent: str
    unit: runs.Unit
    preset: str
    settings: AgentSettings
    proc: procs.Proc
    log: Path
    tail: procs.LogTail
    reader: presets.OutputReader
    started: float  # loop time
    child: bool = True  # ours to reap (False: adopted from a runner that died)
    result_at: float | None = None
    stop_reason: str | None = None  # set when the runner ends it: "shutdown", "timeout", "lingered"
    worktree: Path | None = None  # its git worktree (--worktrees), and that worktree's branch
    branch: str | None = None
    token_sha: str | None = None  # the hash of the HTTP token minted for this run, revoked at its end


@dataclass
class Summary:
    started: int = 0
    done: int = 0
    handed_back: int = 0
    adopted: int = 0
    outlook: str = ""  # the project's outlook when the runner stopped
    exit_code: int = 0
    paused: dict[str, str] = field(default_factory=dict)  # preset: error
    left: dict[str, int] = field(default_factory=dict)  # open tasks per status at an idle exit


class Supervisor:
    def __init__(
        self,
        app: Taskloom,
        config: RunnerConfig,
        connection: presets.Connection,
        run_dir: Path,
        workdir: Path,
        options: Options,
        trees: worktrees.Worktrees | None = None,
        tokens: Path | None = None,
    ) -> None:
        self.app = app
        self.trees = trees
        self.tokens = tokens  # with an HTTP connection: the server's tokens file, where runs get theirs
        self.config = config
        self.connection = connection
        self.run_dir = run_dir
        self.runner = run_dir.name
        self.workdir = workdir
        self.options = options
        self.host = socket.gethostname()
        me = procs.Proc(os.getpid(), psutil.Process().create_time())
        self.me = runs.Runner(self.runner, self.host, me.pid, me.started)
        self.workers: dict[int, Worker] = {}  # by pid
        self.health: dict[str, rules.PresetHealth] = {}
        self.summary = Summary()
        self._serial = 0
        self._stopping = False
        self._wake = anyio.Event()
        self._renewed = -math.inf

    # ---- the loop -------------------------------------------------------------------------

    async def run(self) -> Summary:
        procs.become_subreaper()  # orphaned grandchildren come to us: reaped, and stoppable
        feed = ChangeFeed(self.app)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._signals)
            tg.start_soon(feed.run)
            changes = await feed.attach(CLAIM_WAKE, patient=True)  # a worker takes seconds to boot anyway
            tg.start_soon(self._pump, changes)
            try:
                await self._adopt()
                while not self._stopping:
                    await self._pass()
                    if self.options.until_idle and not self.workers and await self._idle():
                        break
                    with anyio.move_on_after(self.options.tick):
                        await self._wake.wait()
                    self._wake = anyio.Event()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._shutdown()
                feed.detach(changes)
                tg.cancel_scope.cancel()
        return self.summary

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGCHLD) as received:
            async for signum in received:
                if signum == signal.SIGCHLD:
                    self._wake.set()
                else:
                    self.stop()

    async def _pump(self, changes) -> None:
        while True:
            if await changes.next(None):
                self._wake.set()

    async def _pass(self) -> None:
        try:
            await self._reap()
            await self._watch()
            await self._keep()
            if not self._stopping:
                await self._spawn()
        except TaskloomError as exc:  # a locked or damaged database: try again next pass
            log.warning("runner pass: %s", exc)

    # ---- workers ending -------------------------------------------------------------------

    async def _reap(self) -> None:
        ours = [w.proc.pid for w in self.workers.values() if w.child]
        ended = procs.reap(ours)
        procs.reap_orphans(set(ours))
        for w in list(self.workers.values()):
            if w.proc.pid in ended:
                await self._finish(w, ended[w.proc.pid])
            elif not w.child and not procs.alive(w.proc):
                await self._finish(w, None)

    async def _finish(self, w: Worker, exit_code: int | None) -> None:
        # The agent is gone; whatever it left in its group (a dev server, a test watcher) goes too.
        await procs.stop(w.proc, self.options.grace)
        if procs.alive(w.proc):
            # Unkillable for now (stuck in the kernel): its lease is never released while it
            # lives, or a second worker would run beside it. Look again next pass.
            log.error("worker %s (pid %d) outlived SIGKILL; its task stays with it", w.agent, w.proc.pid)
            return
        del self.workers[w.proc.pid]
        for line in w.tail.lines():
            w.reader.feed(line)
        got = w.reader.outcome
        if w.stop_reason == "shutdown":
            note = "The runner stopped; the task goes back to the queue without using an attempt."
            handed = await self.app.write(runs.release_all, note, agent=w.agent)
        elif got.error and not await self.app.read(runs.worker_acted, w.run_id):
            # The agent failed before its first tool call ("Not logged in"): the task was never
            # tried, so no attempt is used; the preset's health decides whether to go on.
            note = f"The agent failed before it began: {got.error}. No attempt was used."
            handed = await self.app.write(runs.release_all, note, agent=w.agent)
        else:
            note = rules.handback_note(exit_code, w.tail.last_line, got.error)
            if w.stop_reason == "timeout":
                note = f"The worker ran past its time limit and was stopped. {note}"
            handed = await self.app.write(runs.hand_back, note, agent=w.agent)
        if w.stop_reason == "shutdown":
            outcome = rules.Outcome.STOPPED
        elif handed:
            outcome = rules.Outcome.HANDED_BACK
        elif await self.app.read(runs.unit_finished, w.unit, agent=w.agent):
            outcome = rules.Outcome.DONE
        else:
            outcome = rules.Outcome.EXITED
        reason = got.error or (note if handed else None)
        await self.app.write(
            runs.end, w.run_id, outcome, exit_code=exit_code, reason=reason,
            cost_usd=got.cost_usd, turns=got.turns, agent=w.agent,
        )
        self._revoke(w.token_sha)
        if self.trees is not None and w.worktree is not None and w.branch is not None:
            try:
                said = await anyio.to_thread.run_sync(
                    self.trees.finish, w.worktree, w.branch, outcome is rules.Outcome.DONE
                )
            except TaskloomError as exc:
                said = f"worktree left as it was: {exc.message}"
            log.info("worker %s: %s", w.agent, said)
        if outcome is rules.Outcome.DONE:
            self.summary.done += 1
        elif outcome is rules.Outcome.HANDED_BACK:
            self.summary.handed_back += 1
        # A preset's health counts only errors its agent reported (an error result such as "Not
        # logged in"): a bare exit code says nothing about the preset, so a few tasks that crash
        # alike do not pause every worker.
        if outcome is rules.Outcome.DONE:
            await self._health(w.preset, w.unit, None)
        elif got.error and w.stop_reason != "shutdown":
            await self._health(w.preset, w.unit, got.error)
        log.info("worker %s (%s) ended: %s, exit %s", w.agent, w.unit.name, outcome.value, exit_code)

    async def _health(self, preset: str, unit: runs.Unit, error: str | None, *, certain: bool = False) -> None:
        health = self.health.setdefault(preset, rules.PresetHealth())
        if health.record(error, certain=certain):
            self.summary.paused[preset] = error or ""
            log.error("runner: pausing the %s preset: %s", preset, error)
            await self.app.write(runs.preset_paused, preset, error or "", unit.task)

    # ---- workers running ------------------------------------------------------------------

    async def _watch(self) -> None:
        now = anyio.current_time()
        for w in list(self.workers.values()):
            for line in w.tail.lines():
                w.reader.feed(line)
            procs.cap(w.log, self.options.log_cap)
            if w.reader.outcome.result_seen and w.result_at is None:
                w.result_at = now
            limit = w.settings.timeout or self.options.worker_timeout
            if w.stop_reason is None and limit is not None and now - w.started > limit:
                await self._stop(w, "timeout")
            elif w.stop_reason is None and w.result_at is not None and now - w.result_at > self.options.result_grace:
                # Claude Code can hang after its result: the work is reported, so end it.
                await self._stop(w, "lingered")

    async def _stop(self, w: Worker, reason: str) -> None:
        w.stop_reason = reason
        how = await procs.stop(w.proc, self.options.grace)
        log.info("worker %s stopped (%s): %s", w.agent, reason, how)
        self._wake.set()

    async def _keep(self) -> None:
        """Renew this runner's rows and its live workers' leases, every RENEW_EVERY seconds."""
        now = anyio.current_time()
        if now - self._renewed < RENEW_EVERY:
            return
        self._renewed = now
        await self.app.write(runs.hold, self.runner, self._hold_until())
        await self._adopt()  # a runner beside us may have died since
        for w in list(self.workers.values()):
            if procs.alive(w.proc):  # never renew for a worker that is gone
                await self.app.write(runs.renew_leases, agent=w.agent)

    # ---- workers starting -----------------------------------------------------------------

    async def _spawn(self) -> None:
        room = self.options.max_workers - len(self.workers)
        if room <= 0:
            return
        now = self.app.clock.now()
        units = await self.app.read(runs.ready_units, self.options.per, self.options.role, self.options.backoff)
        for unit, not_before in units:
            if room <= 0 or self._stopping:
                return
            if not_before > now:
                continue
            settings = self.config.for_task(unit.role, unit.labels)
            if settings.preset in self.summary.paused:
                continue
            if await self._start(unit, settings):
                room -= 1

    async def _start(self, unit: runs.Unit, settings: AgentSettings) -> bool:
        self._serial += 1
        agent = f"{self.runner}-w{self._serial}"
        try:
            started = await self.app.write(
                runs.start, unit, runner=self.me, preset=settings.preset, held_until=self._hold_until(), agent=agent,
            )
        except TaskloomError as exc:  # the slot is another runner's: leave it
            log.info("runner: %s not started: %s", unit.name, exc)
            return False
        if started is None:
            return False
        workdir, env, branch = self.workdir, _base_env(), None
        if self.trees is not None:
            name, branch = worktrees.unit_names(unit.task, unit.stream)
            try:
                workdir = await anyio.to_thread.run_sync(self.trees.checkout, name, branch)
            except TaskloomError as exc:  # git's trouble, not the preset's: no health record
                await self.app.write(runs.release_all, f"The runner could not prepare a worktree: {exc.message}",
                                     agent=agent)
                await self.app.write(runs.end, started.run_id, rules.Outcome.NOT_STARTED, reason=exc.message,
                                     agent=agent)
                return False
            env = worktrees.worker_env(env, workdir, branch)
        prompt = await self.app.read(briefing.worker_instructions, unit.task, unit.stream, agent=agent)
        job = presets.Job(
            agent=agent, task=unit.task, stream=unit.stream, prompt=prompt + closing_words(unit, branch),
            workdir=workdir, run_dir=self.run_dir / agent,
        )
        connection, token_sha = self.connection, None
        if connection.url and self.tokens is not None:
            # A token of its own, naming the worker on every call; revoked when the run ends.
            ttl = (settings.timeout or self.options.worker_timeout or TOKEN_TTL) + HOLD
            token, entry = auth.new_token(self.tokens, agent, ttl)
            connection, token_sha = dataclasses.replace(connection, token=token), entry["sha256"]
        spawn = presets.build(settings, job, connection, env)
        log_path = self.run_dir / f"{agent}.log"
        try:
            presets.write_files(spawn)
            proc = procs.spawn(spawn.argv, spawn.env, spawn.cwd, log_path)
        except (TaskloomError, OSError) as exc:
            self._revoke(token_sha)
            message = getattr(exc, "message", None) or str(exc)
            note = f"The runner could not start the agent: {message}"
            await self.app.write(runs.release_all, note, agent=agent)
            await self.app.write(runs.end, started.run_id, rules.Outcome.NOT_STARTED, reason=message, agent=agent)
            hint = getattr(exc, "hint", None)
            await self._health(settings.preset, unit, f"{message} {hint}" if hint else message, certain=True)
            return False
        await self.app.write(runs.spawned, started.run_id, proc.pid, proc.started, spawn.argv, str(log_path), agent=agent)
        self.workers[proc.pid] = Worker(
            run_id=started.run_id, agent=agent, unit=unit, preset=settings.preset, settings=settings,
            proc=proc, log=log_path, tail=procs.LogTail(log_path), reader=presets.OutputReader(settings.preset),
            started=anyio.current_time(), worktree=workdir if branch else None, branch=branch,
            token_sha=token_sha,
        )
        self.summary.started += 1
        log.info("worker %s started for %s (%s, pid %d)", agent, unit.name, settings.preset, proc.pid)
        return True

    # ---- adopting and stopping ------------------------------------------------------------

    def _revoke(self, sha: str | None) -> None:
        if sha is None or self.tokens is None:
            return
        try:
            tokens.revoke(self.tokens, sha)
        except TaskloomError as exc:  # removed by hand already: nothing left to revoke
            log.warning("runner: revoking a run's token: %s", exc)

    def _hold_until(self) -> float:
        return self.app.clock.now() + HOLD

    async def _adopt(self) -> None:
        """Rows whose runner died (its hold lapsed, or on this host its process is gone): a worker
        still alive here is adopted (same pid and start time) and seen through like our own; a
        dead one's task goes back. Another machine's worker cannot be checked from here: its row
        ends as lost and its task keeps its lease, which its worker renews if it still runs."""
        for row in await self.app.read(runs.orphan_candidates, self.me):
            here = row["host"] == self.host
            if here and row["runner_pid"] is not None and procs.alive(procs.Proc(row["runner_pid"], row["runner_started"])):
                continue  # a live runner beside us, however late its renewal
            if not await self.app.write(runs.take_over, row["id"], row["runner"], self.me, self._hold_until()):
                continue  # another runner took it over first
            unit = runs.Unit(row["task"], row["stream"], row["task_id"], row["stream_id"], row["role"])
            log_path = Path(row["log_path"])
            proc = procs.Proc(row["pid"], row["pid_started"], log_path) if row["pid"] else None
            if here and proc is not None and procs.alive(proc):
                tail = procs.LogTail(log_path, offset=log_path.stat().st_size if log_path.exists() else 0)
                self.workers[proc.pid] = Worker(
                    run_id=row["id"], agent=row["agent"], unit=unit, preset=row["preset"],
                    settings=self.config.for_task(unit.role, unit.labels), proc=proc, log=log_path, tail=tail,
                    reader=presets.OutputReader(row["preset"]), started=anyio.current_time(), child=False,
                )
                if self.trees is not None:
                    name, branch = worktrees.unit_names(unit.task, unit.stream)
                    if (self.trees.root / name).is_dir():
                        adopted = self.workers[proc.pid]
                        adopted.worktree, adopted.branch = self.trees.root / name, branch
                self.summary.adopted += 1
                log.info("runner: adopted worker %s (pid %d) from runner %s", row["agent"], proc.pid, row["runner"])
                continue
            if here:
                note = f"Its runner ({row['runner']}) died and the worker is gone."
                await self.app.write(runs.hand_back, note, agent=row["agent"])
            else:
                note = f"Its runner ({row['runner']} on {row['host']}) stopped renewing; the worker cannot be checked from here."
            await self.app.write(runs.end, row["id"], rules.Outcome.LOST, reason=note, agent=row["agent"])

    async def _shutdown(self) -> None:
        """Stop every worker's group (SIGTERM, the grace, SIGKILL) and hand their tasks back."""
        live = list(self.workers.values())
        async with anyio.create_task_group() as tg:
            for w in live:
                w.stop_reason = "shutdown"
                tg.start_soon(procs.stop, w.proc, self.options.grace)
        ended = procs.reap([w.proc.pid for w in live if w.child])
        for w in live:
            await self._finish(w, ended.get(w.proc.pid))

    async def _idle(self) -> bool:
        """--until-idle: the project is finished (exit 0), or nothing more can run here: what is
        left is blocked, in review, failed or waiting on those, or only paused presets could run
        it (exit 3). Work in progress elsewhere, or a unit backing off, is not idle."""
        units = await self.app.read(runs.ready_units, self.options.per, self.options.role, self.options.backoff)
        if any(self.config.for_task(u.role, u.labels).preset not in self.summary.paused for u, _ in units):
            return False
        left = await self.app.read(runs.open_counts)
        if not left:
            self.summary.outlook, self.summary.exit_code = "finished", 0
            return True
        if left.get("in_progress"):
            return False
        self.summary.outlook = "paused" if units else "stalled"
        self.summary.left = left
        self.summary.exit_code = 3
        return True


def closing_words(unit: runs.Unit, branch: str | None = None) -> str:
    tree = (
        f"\n\nYou work in your own git worktree, on branch `{branch}`. Commit your work there before you "
        "finish; do not switch branches or use `git stash` (the stash is shared by every worktree)."
        if branch else ""
    )
    if unit.task is not None:
        return tree + (
            f"\n\n## How this run ends\nThe runner claimed {unit.task} for you and keeps its lease while you "
            "run: do not claim other work. Finish it with task_done (or task_fail, or task_block when you need "
            "a person), then stop."
        )
    return tree + (
        f"\n\n## How this run ends\nWork through stream {unit.stream}: call task_claim(stream=\"{unit.stream}\", "
        "wait_seconds=30) and finish each task, until it answers that nothing is left for you; then stop."
    )


def _base_env() -> dict[str, str]:
    return dict(os.environ)

