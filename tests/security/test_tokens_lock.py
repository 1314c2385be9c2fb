"""The tokens file's edit lock: `token new` and `token revoke` from many processes lose nothing."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from taskloom.cli import tokens
from taskloom.server import auth

ROUNDS = 50  # mint + revoke cycles per churning process: without the lock about a third of revokes gave up


def _churn(path: str, rounds: int, errors) -> None:
    # What each runner does per worker: mint a token, later revoke it.
    for _ in range(rounds):
        _, entry = auth.new_token(Path(path), "worker", None)
        try:
            tokens.revoke(Path(path), entry["sha256"])
        except Exception as exc:  # noqa: BLE001 - the test reports any failure as data
            errors.put(repr(exc))


def _keep(path: str, rounds: int, kept) -> None:
    for _ in range(rounds):
        _, entry = auth.new_token(Path(path), "keeper", None)
        kept.put(entry["sha256"])


def test_tokens_minted_and_revoked_by_four_processes_at_once_lose_no_kept_token_and_no_revoke_gives_up(tmp_path):
    path = tmp_path / "tokens.jsonl"
    ctx = multiprocessing.get_context("fork")
    errors, kept = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_churn, args=(str(path), ROUNDS, errors)) for _ in range(3)]
    procs.append(ctx.Process(target=_keep, args=(str(path), ROUNDS * 2, kept)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    expected = {kept.get(timeout=5) for _ in range(ROUNDS * 2)}
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    stored = {line for line in path.read_text().splitlines() if line}
    hashes = {auth.parse_line(line).sha256.hex() for line in stored}
    assert hashes == expected, f"{len(expected - hashes)} kept tokens lost, {len(hashes - expected)} revoked ones left"


def test_a_token_new_waits_while_a_revoke_holds_the_file(tmp_path):
    path = tmp_path / "tokens.jsonl"
    auth.new_token(path, "a", None)
    appended = threading.Event()

    def mint():
        auth.new_token(path, "b", None)
        appended.set()

    with auth.editing(path):
        minting = threading.Thread(target=mint)
        minting.start()
        assert not appended.wait(0.3), "token new appended while the file was being rewritten"
        assert len(path.read_text().splitlines()) == 1
    assert appended.wait(10)
    minting.join()
    assert len(path.read_text().splitlines()) == 2
