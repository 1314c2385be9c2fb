"""How a PostgreSQL store hears that anything committed: LISTEN/NOTIFY, with a poll behind it.

Writers run `SELECT pg_notify('taskloom', '')` inside their transaction; PostgreSQL delivers it
only if that transaction commits. The listener holds one connection of its own (autocommit,
never from the pool) that LISTENs on the channel. Notifications are lost while that connection
is down and can be missed for other reasons (a writer that forgot, a transaction pooler), so a
cheap probe supplied by the store (the newest event id) runs behind it: every `poll_listening`
seconds while the listener is up, every `poll_deaf` seconds while it is reconnecting. A moved
value is a change. A reconnect reports one change at once: the change feed then rereads after
its cursor, which is how it catches up on whatever the lost notifications would have said.

The connection is psycopg's AsyncConnection on the event loop, not a sync connection on a
thread: notification latency is the same (docs/postgres-design.md, section 1), and with no
thread, `close` is a task cancellation. A thread blocked in `connect` or `notifies` can only be
told to stop when that call returns, so a thread design would make `close` wait for a connect
timeout while the server is unreachable, or leave the thread behind.

The probe runs only while someone waits: a process nobody waits in costs the database nothing.
Each probe runs as a task of its own, so a slow one (a busy pool) never delays a wait that a
notification or this process's own commit can end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from contextlib import aclosing, suppress

import psycopg
from psycopg import sql

from taskloom.errors import TaskloomError

log = logging.getLogger(__name__)

CHANNEL = "taskloom"
POLL_LISTENING = 1.0  # seconds between probes while notifications arrive: a backstop only
POLL_DEAF = 0.1  # seconds between probes while the listener is reconnecting: the probe is all there is
CONNECT_TIMEOUT = 5.0  # seconds one connection attempt may take
BACKOFF_FIRST = 0.1  # seconds before the first reconnect attempt, doubling per failed attempt
BACKOFF_MAX = 5.0  # seconds: the longest pause between reconnect attempts
# A network that silently drops the connection (no FIN, no RST) gives no error until TCP gives up.
# With these keepalives the kernel declares the peer dead after about 10 + 3 * 5 = 25 s of
# silence; the listener then reconnects. Until then the poll still sees every change.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class Listener:
    """Wakes `wait` on this process's commits (`committed`), notifications, or a moved probe.

    One waiter at a time (the change feed), as `Store.wait_for_change` says: what a wait reports
    is consumed. Every method runs on the event loop; nothing here blocks it.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        probe: Callable[[], Awaitable[int]],
        channel: str = CHANNEL,
        poll_listening: float = POLL_LISTENING,
        poll_deaf: float = POLL_DEAF,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._conninfo = conninfo
        self._probe = probe
        self._channel = channel
        self._poll_listening = poll_listening
        self._poll_deaf = poll_deaf
        self._connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._probing: asyncio.Task[None] | None = None
        self._changed = False  # something committed since the last wait returned
        self._stirred = asyncio.Event()  # a change, or the listener went up or down: a waiter looks again
        self._seen: int | None = None  # the probe's last answer; None until one succeeds
        self._probed_at = float("-inf")  # loop time the last probe ended
        self._probe_failing = False
        self._closed = False

    @property
    def listening(self) -> bool:
        """Health: notifications can arrive. False while reconnecting (waits then rely on the probe)."""
        return self._conn is not None and not self._closed

    async def start(self) -> None:
        """LISTEN, then take the probe's first reading, so a commit after `start` returns is heard.

        A database that cannot be reached does not fail `start`: the listener starts deaf (waits
        poll every `poll_deaf` seconds) and keeps reconnecting. Whether PostgreSQL is there at
        all is for the store's pool to say when it opens; a listener that raised here would turn a
        restart that races the server's start into a crash, for a connection that only speeds
        things up.
        """
        try:
            await self._connect()
        except psycopg.Error as exc:
            log.warning("not listening for changes yet (%s); polling until PostgreSQL answers", _first_line(exc))
        self._task = asyncio.create_task(self._run(up=self._conn is not None), name="taskloom-pg-listen")
        await self._look()

    def committed(self) -> None:
        """This process committed a write: the current or next `wait` returns True at once."""
        self._changed = True
        self._stirred.set()

    async def wait(self, timeout: float) -> bool:
        """Up to `timeout` seconds for a commit anywhere; True if one happened since the last
        wait returned. Never raises for the database being away: it waits on the poll instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._stirred.clear()
            if self._take():
                return True
            if self._closed:
                return False
            now = loop.time()
            wake = deadline  # while a probe runs, its end stirs us
            if self._probing is None:
                due = self._probed_at + (self._poll_listening if self.listening else self._poll_deaf)
                if now >= due:
                    self._probing = asyncio.create_task(self._look(), name="taskloom-pg-probe")
                else:
                    wake = min(deadline, due)
            if now >= deadline:
                return False
            with suppress(TimeoutError):
                async with asyncio.timeout(wake - now):
                    await self._stirred.wait()

    async def close(self) -> None:
        """Stop listening and close the connection: prompt even while the server is unreachable."""
        self._closed = True
        self._stirred.set()
        for task in (self._task, self._probing):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._task = self._probing = None
        await self._disconnect()

    def drain(self) -> None:
        """Forget the commits heard so far: the caller is about to read everything committed."""
        self._changed = False

    def _take(self) -> bool:
        changed, self._changed = self._changed, False
        return changed

    async def _look(self) -> None:
        """Ask the probe; a moved answer is a change. The next probe is due an interval after
        this one ends, so a slow probe is never followed at once by another."""
        try:
            value = await self._probe()
        except (TaskloomError, psycopg.Error) as exc:
            if not self._probe_failing:
                log.info("change probe failed (%s); trying again at the next poll", _first_line(exc))
            self._probe_failing = True
        else:
            self._probe_failing = False
            if self._seen is not None and value != self._seen:
                self._changed = True
            self._seen = value
        finally:
            self._probed_at = asyncio.get_running_loop().time()
            self._probing = None
            self._stirred.set()

    async def _connect(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(2, round(self._connect_timeout)),  # whole seconds; libpq's least is 2
            application_name=f"taskloom listen {socket.gethostname()} {os.getpid()}",
            **KEEPALIVES,
        )
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _run(self, up: bool) -> None:
        try:
            await self._keep_listening(up)
        except Exception:  # top-level handler of a background task: a bug here must not pass silently
            log.exception("the change listener crashed; waits rely on the poll from now on")
            await self._disconnect()
            self._stirred.set()

    async def _keep_listening(self, up: bool) -> None:
        """Until cancelled: hand notifications on; on a drop, reconnect with backoff."""
        loop = asyncio.get_running_loop()
        backoff = BACKOFF_FIRST
        while True:
            if up:
                why = await self._listen()
                log.warning("stopped listening for changes (%s); polling every %.1f s while reconnecting",
                            why, self._poll_deaf)
                self._stirred.set()  # a waiter's next probe is now due sooner
            lost_at = loop.time()
            while self._conn is None:  # one warning per outage, not one per attempt
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                try:
                    await self._connect()
                except psycopg.Error as exc:
                    log.debug("listener reconnect failed: %s", _first_line(exc))
            log.info("listening for changes again after %.1f s", loop.time() - lost_at)
            backoff = BACKOFF_FIRST
            up = True
            # Notifications sent while we were away are lost: report one change, and the
            # change feed rereads everything after its cursor.
            self.committed()

    async def _listen(self) -> str:
        """Hand on notifications until the connection breaks; then drop it and say why."""
        assert self._conn is not None
        why = "the connection ended"
        try:
            async with aclosing(self._conn.notifies()) as notifications:
                async for _ in notifications:  # the payload does not matter: any commit is a change
                    self.committed()
        except psycopg.Error as exc:
            why = _first_line(exc)
        await self._disconnect()
        return why


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]
