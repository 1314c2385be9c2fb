"""Measuring processes from outside: CPU seconds and memory from /proc, a bare JSON-RPC client.

On a shared, noisy machine wall-clock rates swing with other load; CPU seconds per call do not.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.benchmarks.common import ROOT


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int | None = None) -> list[int]:
    pid = os.getpid() if pid is None else pid
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


class BareClient:
    """A minimal MCP client over stdio: one JSON-RPC line out, one line back, `json.loads`.

    No SDK client and no client-side output-schema validation, so what it times is almost all
    the server's (and the pipes'). Blocking; one request in flight.
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(cwd),
            env={**os.environ, **(env or {})},
        )
        self.pid = self.proc.pid
        self._id = 0
        self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "taskloom-bench", "version": "0"},
            },
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _send(self, msg: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server closed its output during {method}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool result: `isError`, `structuredContent`, `content`."""
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a stuck server must not hang the benchmark
            self.proc.kill()


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now (psutil) and its high-water mark (VmHWM), in MiB."""
    import psutil

    rss = psutil.Process(pid).memory_info().rss
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return {"rss_mb": rss / 2**20, "peak_mb": peak / 2**20}
