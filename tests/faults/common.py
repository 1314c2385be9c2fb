"""What the fault suites share: raw JSON-RPC over a server's pipes, server processes (the console
script or forked from tests/faults/zygote.py), and database checks that read the SQLite file directly.

The raw client is a few dozen lines on purpose: it can send what no SDK client would (garbage,
half a frame, a call and then a hang-up), and it keeps spawn + initialize cheap enough for 50 kills.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp_types.version import LATEST_HANDSHAKE_VERSION

from tests.server.test_transports import TASKLOOM

ZYGOTE = Path(__file__).with_name("zygote.py")
REPO = Path(__file__).resolve().parents[2]
REPLY_DEADLINE = 30.0  # seconds; bounds a hung server only, replies take milliseconds


def server_env(agent: str, **extra: str) -> dict[str, str]:
    """The environment a server gets: ours minus taskloom's own variables, plus the agent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    env["TASKLOOM_AGENT"] = agent
    env.update(extra)
    return env


def serve_argv(db: Path, project: str, *extra: str) -> list[str]:
    return ["serve", "--transport", "stdio", "--db", str(db), "--project", project, *extra]


class Wire:
    """Newline-delimited JSON-RPC over two file descriptors of a server process."""

    def __init__(self, to_server: int, from_server: int) -> None:
        self.to_server: int | None = to_server
        self.from_server = from_server
        self._buffer = b""
        self._next_id = 0
        self.eof = False
        self.pending: list[dict[str, Any]] = []  # messages read while waiting for another id

    def send_bytes(self, data: bytes) -> None:
        assert self.to_server is not None, "stdin already closed"
        view = memoryview(data)
        while view:
            view = view[os.write(self.to_server, view) :]

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")

    def request(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self._next_id

    def close_stdin(self) -> None:
        if self.to_server is not None:
            os.close(self.to_server)
            self.to_server = None

    @property
    def buffered(self) -> bool:
        """A whole message is already read and waiting: `read(0)` returns it without a syscall."""
        return b"\n" in self._buffer

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None at EOF or when `timeout` passes."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self.eof:
                return None
            left = max(0.0, deadline - time.monotonic())
            if not select.select([self.from_server], [], [], left)[0]:
                return None
            chunk = os.read(self.from_server, 1 << 20)
            if not chunk:
                self.eof = True
                continue
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def wait_for(self, request_id: int, timeout: float = REPLY_DEADLINE) -> dict[str, Any]:
        for i, message in enumerate(self.pending):
            if message.get("id") == request_id:
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = self.read(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise AssertionError(f"no reply to request {request_id} (eof={self.eof})")
            if message.get("id") == request_id:
                return message
            self.pending.append(message)

    def initialize(self) -> dict[str, Any]:
        reply = self.wait_for(
            self.request(
                "initialize",
                {
                    "protocolVersion": LATEST_HANDSHAKE_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "faults", "version": "0"},
                },
            )
        )
        assert "result" in reply, reply
        self.send({"method": "notifications/initialized"})
        return reply["result"]

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """A tools/call that must succeed; returns its structuredContent."""
        reply = self.wait_for(self.request("tools/call", {"name": tool, "arguments": arguments}))
        result = reply.get("result")
        assert result is not None and not result.get("isError"), f"{tool} failed: {reply}"
        return result["structuredContent"]

    def drain(self, timeout: float) -> list[dict[str, Any]]:
        """Every message until EOF (the server's end of the pipe closed, so it is gone)."""
        out, self.pending = self.pending, []
        deadline = time.monotonic() + timeout
        while (message := self.read(max(0.0, deadline - time.monotonic()))) is not None:
            out.append(message)
        assert self.eof, f"server still writing after {timeout}s"
        return out

    def close(self) -> None:
        self.close_stdin()
        if self.from_server >= 0:
            os.close(self.from_server)
            self.from_server = -1


class Server:
    """One `taskloom serve` stdio process and the wire to it."""

    def __init__(self, pid: int, wire: Wire, log: Path, proc: subprocess.Popen | None = None) -> None:
        self.pid = pid
        self.wire = wire
        self.log = log
        self.proc = proc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            return  # already reaped: its pid may belong to someone else now
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> None:
        """Close stdin (the normal end of a stdio session); kill it if it does not go."""
        self.wire.close_stdin()
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        else:
            self.wire.read(10)  # EOF once it exits
            if not self.wire.eof:
                self.kill()
        self.wire.close()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def cleanup(self) -> None:
        """For a `finally`: whatever state it is in, it ends dead and closed."""
        self.kill()
        self.wire.close()


def exec_server(tmp_path: Path, argv: list[str], agent: str, name: str, **env: str) -> Server:
    """The real console script, started from scratch."""
    log = tmp_path / f"{name}.stderr"
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    try:
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [TASKLOOM, *argv],
                stdin=stdin_r,
                stdout=stdout_w,
                stderr=err,
                env=server_env(agent, **env),
                cwd=tmp_path,
            )
    finally:
        os.close(stdin_r)
        os.close(stdout_w)
    wire = Wire(stdin_w, stdout_r)
    return Server(proc.pid, wire, log, proc)


class Zygote:
    """Forks `taskloom serve` processes from one pre-imported helper (see zygote.py for why)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(tmp_path / "zygote.stderr", "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ZYGOTE), str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                pass_fds=(theirs.fileno(),),
                env=env,
            )
        theirs.close()
        self.children: list[int] = []

    def spawn(self, argv: list[str], agent: str, name: str, **env: str) -> Server:
        log = self.tmp_path / f"{name}.stderr"
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        request = {"argv": argv, "env": server_env(agent, **env), "cwd": str(self.tmp_path)}
        try:
            socket.send_fds(self._control, [json.dumps(request).encode()], [stdin_r, stdout_w, err])
            reply = self._control.recv(4096)
        finally:
            for fd in (stdin_r, stdout_w, err):
                os.close(fd)
        assert reply, f"zygote died: {(self.tmp_path / 'zygote.stderr').read_text()}"
        pid = json.loads(reply)["pid"]
        self.children.append(pid)
        return Server(pid, Wire(stdin_w, stdout_r), log)

    def close(self) -> None:
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._control.close()  # the zygote reads EOF and returns
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    z = Zygote(tmp_path)
    try:
        yield z
    finally:
        z.close()


# ------------------------------------------------------------------ the database, read directly


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def integrity(db: Path) -> str:
    conn = connect(db)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def rows(db: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    conn = connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
