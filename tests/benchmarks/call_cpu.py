"""Server CPU added per call: `task_get` and `task_claim` against `noop`, for this checkout and,
side by side in the same run, another one (`--base DIR`, e.g. a worktree of the last release).

Each tree runs its own noop_server over stdio (PYTHONPATH at that tree's src/ and tests), on its
own copy of the same databases, driven by a bare JSON-RPC client so that the client costs the
server nothing. CPU seconds come from /proc. Blocks of one tool at a time rotate through the
trees and the tools, so drift on a shared machine hits all of them alike; each figure is the
median over the rounds of (tool - noop) measured in the same round.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from tests.benchmarks.clients import BareClient, cpu_seconds
from tests.benchmarks.common import PROJECT

NOOP_SERVER = "tests.benchmarks.noop_server"
CALLS = {"task_get": "get", "task_claim": "claim"}  # tool -> which database it runs on


def tree_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    return {**env, "PYTHONPATH": f"{tree / 'src'}:{tree}", "PYTHONDONTWRITEBYTECODE": "1",
            "TASKLOOM_AGENT": "bench-cpu"}


def serve(tree: Path, db: Path) -> BareClient:
    argv = [sys.executable, "-m", NOOP_SERVER, "--transport", "stdio", "--db", str(db), "--project", PROJECT]
    return BareClient(argv, tree_env(tree), cwd=tree)


def added_cpu_us(
    trees: dict[str, Path], get_db: Path, claim_db: Path, target: str, calls: int, rounds: int, warmup: int = 200,
    own: dict[str, tuple[Path, Path]] | None = None,
) -> dict[str, dict[str, float]]:
    """{tree label: {tool: median added server CPU per call in us, tool + "_noop_us": noop's}}.
    `own` gives a tree its own (get, claim) databases, e.g. one built by a tree of an older schema."""
    args = {"noop": {}, "task_get": {"task": target}, "task_claim": {}}
    servers: dict[str, dict[str, BareClient]] = {}
    try:
        for label, tree in trees.items():
            dbs = {}
            for kind, src in zip(("get", "claim"), (own or {}).get(label, (get_db, claim_db)), strict=True):
                dbs[kind] = src.with_name(f"{label}-{src.name}")
                shutil.copyfile(src, dbs[kind])
            servers[label] = {kind: serve(tree, db) for kind, db in dbs.items()}
            for kind, tool in (("get", "task_get"), ("claim", "task_claim")):
                for _ in range(warmup):
                    servers[label][kind].call("noop", {})
                    check(servers[label][kind].call(tool, args[tool]), tool)
        added: dict[str, dict[str, list[float]]] = {label: {} for label in trees}
        noop: dict[str, dict[str, list[float]]] = {label: {} for label in trees}
        labels = list(trees)
        for r in range(rounds):
            for label in labels if r % 2 == 0 else labels[::-1]:
                for tool, kind in CALLS.items():
                    client = servers[label][kind]
                    per = {}
                    for name in ("noop", tool) if r % 2 == 0 else (tool, "noop"):
                        c0 = cpu_seconds(client.pid)
                        for _ in range(calls):
                            res = client.call(name, args[name])
                        check(res, name)
                        per[name] = (cpu_seconds(client.pid) - c0) / calls * 1e6
                    added[label].setdefault(tool, []).append(per[tool] - per["noop"])
                    noop[label].setdefault(tool, []).append(per["noop"])
    finally:
        for pair in servers.values():
            for client in pair.values():
                client.close()
    return {
        label: {
            **{tool: statistics.median(v) for tool, v in added[label].items()},
            **{f"{tool}_noop_us": statistics.median(v) for tool, v in noop[label].items()},
        }
        for label in trees
    }


def check(res: dict[str, Any], tool: str) -> None:
    if res.get("isError"):
        raise RuntimeError(f"{tool} failed: {res}")
    if tool == "task_claim" and not res["structuredContent"]["claimed"]:
        raise RuntimeError("task_claim found nothing to claim: the claim database is too small")
