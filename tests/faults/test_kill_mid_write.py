"""Crash in the middle of writing: 50 SIGKILLs of a `taskloom serve` process that is busy writing.

One SQLite file; a fresh stdio server for each round (the first one is the console script, the
rest are forked from tests/faults/zygote.py, each its own process with its own connections and
resolver). A driver keeps several writes in flight over raw JSON-RPC (task_create, task_claim,
task_note, artifacts_upload) and records every write the server acknowledged, including the
replies still in the pipe when it died. After a seeded random 20-300 ms of writing the server
is SIGKILLed, and before the next round the file itself is checked:

- `PRAGMA integrity_check` is ok;
- every acknowledged task, note, claim and artifact is there (a claim is still held by its agent,
  or the resolver expired it, with an event saying so), and an unacknowledged task_create is
  all or nothing;
- no lease of a dead agent stays overdue: the next servers' resolvers recover it (lease 1 s);
- every artifact row has its whole blob; every blob in place has exactly the bytes its name says;
  anything partial is a temp file under tmp/, which nothing lists.

At the end one more server recovers every lease still held by the dead, and each task's attempts
match the lease expiries recorded for it.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.common import Server, exec_server, integrity, rows, serve_argv, zygote

KILLS = 50
SEED = 20261121
LEASE = 1.0  # seconds: short, so that the dead agents' leases fall due while the test runs
WINDOW = 4  # writes in flight at once, so that a kill usually lands while some are being handled
AHEAD = 2  # servers started ahead of their round: their start-up overlaps the writing
PROJECT = "kill"
OVERDUE = 8.0  # seconds past its expiry after which a dead agent's lease counts as not recovered
UPLOAD_SIZES = (300, 20_000, 250_000, 1_500_000)  # bytes; the largest spans two 1 MiB chunks


@dataclass
class Ledger:
    """Everything the servers acknowledged, across all rounds."""

    tasks: dict[str, str] = field(default_factory=dict)  # code -> title
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (code, body, agent)
    claims: list[tuple[str, str]] = field(default_factory=list)  # (code, agent)
    uploads: dict[str, tuple[str, int]] = field(default_factory=dict)  # sha256 -> (name, size)
    unacked_creates: list[list[str]] = field(default_factory=list)  # titles of one call each
    errors: list[Any] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


class Writer:
    """One round's stream of writes: picks the next write, reads replies, books what was acknowledged."""

    def __init__(self, server: Server, agent: str, round_no: int, rng: random.Random, ledger: Ledger) -> None:
        self.server, self.agent, self.round, self.rng, self.ledger = server, agent, round_no, rng, ledger
        self.inflight: dict[int, tuple[str, Any]] = {}
        self.n = 0

    def _next(self) -> tuple[str, dict[str, Any], Any]:
        self.n += 1
        tag = f"r{self.round}-{self.n}"
        known = list(self.ledger.tasks)
        kind = self.rng.choices(["create", "claim", "note", "upload"], [3, 2, 3, 2])[0] if known else "create"
        if kind == "create":
            specs = [{"title": f"task {tag}.{i}"} for i in range(self.rng.randint(1, 3))]
            if known and self.rng.random() < 0.2:
                specs[0]["depends_on"] = [self.rng.choice(known)]
            return kind, {"tasks": specs}, [s["title"] for s in specs]
        if kind == "claim":
            return kind, {}, None
        if kind == "note":
            code = self.rng.choice(known)
            body = f"note {tag} " + "x" * self.rng.randint(0, 3000)
            return kind, {"task": code, "body": body, "kind": "progress"}, (code, body)
        size = self.rng.choice(UPLOAD_SIZES)
        content = (f"artifact {tag} " * (size // 12 + 1))[:size]
        args: dict[str, Any] = {"name": f"{tag}.txt", "content": content}
        if self.rng.random() < 0.5:
            args["links"] = [f"task:{self.rng.choice(known)}"]
        return kind, args, (args["name"], hashlib.sha256(content.encode()).hexdigest(), len(content))

    def _send(self) -> None:
        kind, args, expect = self._next()
        tool = {
            "create": "task_create",
            "claim": "task_claim",
            "note": "task_note",
            "upload": "artifacts_upload",
        }
        rid = self.server.wire.request("tools/call", {"name": tool[kind], "arguments": args})
        self.inflight[rid] = (kind, expect)

    def book(self, message: dict[str, Any]) -> None:
        if message.get("id") not in self.inflight:
            return  # a notification
        kind, expect = self.inflight.pop(message["id"])
        result = message.get("result")
        if result is None or result.get("isError"):
            self.ledger.errors.append({"round": self.round, "kind": kind, "reply": str(message)[:500]})
            return
        out = result["structuredContent"]
        self.ledger.counts[kind] += 1
        if kind == "create":
            for task, title in zip(out["tasks"], expect, strict=True):
                assert task["title"] == title, (task, title)
                self.ledger.tasks[task["code"]] = title
        elif kind == "claim":
            if out["claimed"]:
                task = out["detail"]["task"]
                assert task["claimed_by"] == self.agent, task
                self.ledger.claims.append((task["code"], self.agent))
                self.ledger.counts["claimed"] += 1
        elif kind == "note":
            self.ledger.notes.append((*expect, self.agent))
        else:
            name, sha, size = expect
            assert (out["artifact"]["sha256"], out["artifact"]["size"]) == (sha, size), out
            self.ledger.uploads[sha] = (name, size)

    def run_until(self, deadline: float) -> None:
        wire = self.server.wire
        while time.monotonic() < deadline:
            while len(self.inflight) < WINDOW:
                self._send()
            message = wire.read(max(0.0, deadline - time.monotonic()))
            if message is not None:
                self.book(message)
            else:
                assert not wire.eof, f"{self.agent}'s server died on its own:\n{self.server.stderr()[-3000:]}"

    def after_kill(self) -> int:
        """Book the replies the server wrote before it died; returns how many writes got none."""
        for message in self.server.wire.drain(10.0):
            self.book(message)
        self.server.wire.close()
        for kind, expect in self.inflight.values():
            if kind == "create":
                self.ledger.unacked_creates.append(expect)
        return len(self.inflight)


# ------------------------------------------------------------------ checks on the file itself


def check_database(db: Path, ledger: Ledger) -> None:
    assert integrity(db) == "ok"
    tasks = {
        r["code"]: r for r in rows(db, "SELECT code, title, status, claimed_by, lease_expires_at FROM tasks")
    }
    lost = {c: t for c, t in ledger.tasks.items() if c not in tasks or tasks[c]["title"] != t}
    assert not lost, f"acknowledged tasks missing: {lost}"

    titles = Counter(r["title"] for r in tasks.values())
    for call in ledger.unacked_creates:
        present = sum(titles[t] for t in call)
        assert present in (0, len(call)), f"half a task_create survived: {call}"

    notes = {
        (r["code"], r["body"], r["agent"])
        for r in rows(db, "SELECT t.code, n.body, n.agent FROM notes n JOIN tasks t ON t.id = n.task_id")
    }
    missing = [n[:2] for n in ledger.notes if n not in notes]
    assert not missing, f"acknowledged notes missing: {[(c, b[:30]) for c, b in missing][:10]}"

    claimed = Counter(
        (r["subject"], r["agent"])
        for r in rows(db, "SELECT subject, agent FROM events WHERE kind = 'task.claimed'")
    )
    expired = Counter(
        (r["subject"], r["holder"])
        for r in rows(
            db,
            "SELECT subject, json_extract(payload, '$.agent') AS holder FROM events"
            " WHERE kind = 'lease.expired'",
        )
    )
    for (code, agent), n in Counter(ledger.claims).items():
        assert claimed[(code, agent)] >= n, f"acknowledged claim of {code} by {agent} has no event"
        task = tasks[code]
        held = task["status"] == "in_progress" and task["claimed_by"] == agent
        assert expired[(code, agent)] + held >= n, (
            f"claim of {code} by {agent} is neither held nor recovered: {dict(task)}"
        )

    overdue = [
        dict(t)
        for t in tasks.values()
        if t["status"] == "in_progress" and t["lease_expires_at"] < time.time() - OVERDUE
    ]
    assert not overdue, f"leases of dead agents left overdue: {overdue}"


def check_blobs(db: Path, ledger: Ledger, verified: dict[Path, tuple[int, int]]) -> tuple[int, int]:
    """Returns (orphan blobs, temp files): bytes a kill left behind that no row points at.

    `verified` remembers the blobs already hashed (by size and mtime): blobs are immutable, and
    hashing every one after every kill would dominate the test's time.
    """
    root = db.parent / f"{db.name}-artifacts"
    recorded = {r["sha256"]: r for r in rows(db, "SELECT sha256, name, size FROM artifacts")}
    for sha, (name, size) in ledger.uploads.items():
        assert sha in recorded and recorded[sha]["size"] == size, f"acknowledged upload {name} missing"
    on_disk: dict[str, Path] = {}
    temps = 0
    for path in root.rglob("*") if root.exists() else []:
        if path.is_dir():
            continue
        rel = path.relative_to(root)
        if rel.parts[0] == "tmp":
            assert rel.name.startswith("upload-"), rel
            temps += 1
            continue
        assert len(rel.parts) == 2 and len(rel.parts[0]) == 2, f"stray file in the blob store: {rel}"
        sha = "".join(rel.parts)
        st = path.stat()
        if verified.get(path) != (st.st_size, st.st_mtime_ns):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, (
                f"partial or wrong blob in place: {rel}"
            )
            verified[path] = (st.st_size, st.st_mtime_ns)
        on_disk[sha] = path
    for sha, row in recorded.items():
        assert sha in on_disk, f"artifact {row['name']} is listed but its blob is missing"
        assert on_disk[sha].stat().st_size == row["size"]
    return len(set(on_disk) - set(recorded)), temps


# ------------------------------------------------------------------ the test


def test_fifty_sigkills_mid_write_lose_no_acknowledged_write_and_leave_no_half_written_state(tmp_path):
    db = tmp_path / "kill.db"
    rng = random.Random(SEED)
    ledger = Ledger()
    argv = serve_argv(db, PROJECT, "--lease-seconds", str(LEASE))
    unanswered_per_kill: list[int] = []
    init_wait = check_time = 0.0
    verified: dict[Path, tuple[int, int]] = {}
    started = time.monotonic()
    with zygote(tmp_path) as z:
        first = exec_server(tmp_path, argv, "writer-0", "writer-0")
        queue = deque([first])
        try:
            for n in range(KILLS):
                while len(queue) < AHEAD + 1 and n + len(queue) < KILLS:
                    i = n + len(queue)
                    queue.append(z.spawn(argv, f"writer-{i}", f"writer-{i}"))
                server = queue.popleft()
                agent = f"writer-{n}"
                t0 = time.monotonic()
                server.wire.initialize()
                init_wait += time.monotonic() - t0
                writer = Writer(server, agent, n, rng, ledger)
                writer.run_until(time.monotonic() + rng.uniform(0.02, 0.3))
                server.kill()
                unanswered_per_kill.append(writer.after_kill())
                assert not ledger.errors, f"writes answered with errors: {ledger.errors[:5]}"
                t0 = time.monotonic()
                check_database(db, ledger)
                orphans, temps = check_blobs(db, ledger, verified)
                check_time += time.monotonic() - t0
                assert "Traceback" not in server.stderr(), server.stderr()
        finally:
            for server in queue:
                server.kill()
                server.wire.close()
    kill_seconds = time.monotonic() - started

    # One more server, the console script, recovers whatever the dead still hold once leases pass.
    final = exec_server(tmp_path, argv, "recoverer", "recoverer")
    try:
        final.wire.initialize()
        deadline = time.monotonic() + 20 * LEASE
        while rows(db, "SELECT 1 FROM tasks WHERE status = 'in_progress'"):
            assert time.monotonic() < deadline, "the resolver did not recover the dead agents' leases"
            time.sleep(0.05)
        status = final.wire.call("project_status")
        # What the kills left behind (orphan blobs, temp files) is garbage that gc collects, and only that.
        gc = final.wire.call("artifacts_gc", older_than_seconds=0)
    finally:
        final.stop()
    assert final.proc.returncode == 0 and "Traceback" not in final.stderr(), final.stderr()
    check_database(db, ledger)
    assert (gc["artifacts_removed"], gc["blobs_removed"], gc["temp_files_removed"]) == (0, orphans, temps), gc
    assert check_blobs(db, ledger, {}) == (0, 0)

    expiries = Counter(
        r["subject"] for r in rows(db, "SELECT subject FROM events WHERE kind = 'lease.expired'")
    )
    for t in rows(db, "SELECT code, status, attempts, max_attempts FROM tasks"):
        assert t["attempts"] == expiries[t["code"]], dict(t)
        assert (t["status"] == "failed") == (t["attempts"] >= t["max_attempts"]), dict(t)
    # The kills really did land mid-write most of the time, and every kind of write was exercised.
    mid_write = sum(1 for u in unanswered_per_kill if u)
    assert mid_write >= KILLS // 2, unanswered_per_kill
    assert all(ledger.counts[k] >= 5 for k in ("create", "claimed", "note", "upload")), ledger.counts
    print(
        f"\nkill: {KILLS} kills in {kill_seconds:.1f}s (waiting for start-ups {init_wait:.1f}s, "
        f"checks {check_time:.1f}s), {mid_write} with writes in flight ({sum(unanswered_per_kill)} "
        f"unanswered in all); acknowledged: {dict(ledger.counts)}, {len(ledger.tasks)} tasks; "
        f"orphan blobs {orphans}, temp files {temps}; final status {status['counts']}"
    )
