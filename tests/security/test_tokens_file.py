"""The tokens file and `taskloom token new`: hashed, per-agent, expiring bearer tokens.

In-process for the rules (expiry at its instant, re-reading on change, malformed lines), and
against real `taskloom serve --transport http` processes for what a client sees: 401 with the
same body for a missing, wrong, expired or revoked token and no data; tokens added or revoked
while the server runs take effect without a restart.
"""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import datetime

import httpx2
import pytest

from taskloom.cli.main import main
from taskloom.errors import InvalidInput
from taskloom.server.auth import Authenticator, Principal, TokensFile, digest, new_token, parse_ttl
from tests.security.common import SHARED, TOKENS, bearer, entry, serving_tokens, write_tokens
from tests.server.test_http_security import CREATE, PROJECT, assert_unauthorized, modern_call, task_count

# ------------------------------------------------------------------ rules, in-process


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)]
)
def test_a_time_to_live_is_a_number_and_a_unit(text, seconds):
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "-1d", "0h", "7 days", "1y", "1e3s"])
def test_a_time_to_live_without_a_usable_number_and_unit_is_refused(text):
    with pytest.raises(InvalidInput, match="time to live"):
        parse_ttl(text)


def test_a_token_is_refused_from_the_instant_it_expires_and_an_agent_token_names_its_agent(tmp_path):
    now = [1000.0]
    path = write_tokens(
        tmp_path / "tokens",
        entry(TOKENS["alice"], "alice", "1970-01-01T00:20:00Z"),  # 1200 s after the epoch
        entry(TOKENS["bob"]),
    )
    auth = Authenticator(SHARED, TokensFile(path), now=lambda: now[0])
    assert auth.agent_for(TOKENS["alice"].encode()) == Principal("alice")
    assert auth.agent_for(TOKENS["bob"].encode()) == Principal(None)  # an entry without an agent: any agent
    assert auth.agent_for(SHARED.encode()) == Principal(None)
    now[0] = 1199.999
    assert auth.agent_for(TOKENS["alice"].encode()) == Principal("alice")
    now[0] = 1200.0
    assert auth.agent_for(TOKENS["alice"].encode()) is None
    for wrong in [
        b"",
        b"x",
        TOKENS["carol"].encode(),
        TOKENS["alice"].encode() + b"x",
        digest(TOKENS["bob"]).hex().encode(),
    ]:
        assert auth.agent_for(wrong) is None


def test_the_file_is_re_read_when_it_changes_so_tokens_come_and_go_without_a_restart(tmp_path, caplog):
    path = write_tokens(tmp_path / "tokens", entry(TOKENS["alice"], "alice"))
    auth = Authenticator(None, TokensFile(path))
    assert auth.agent_for(TOKENS["alice"].encode()) == Principal("alice")
    assert auth.agent_for(TOKENS["bob"].encode()) is None

    with open(path, "a") as f:
        f.write(entry(TOKENS["bob"], "bob") + "\n")
    assert auth.agent_for(TOKENS["bob"].encode()) == Principal("bob")

    # Revoking alice: her line goes. Same size file (a hand edit), so the size alone would not tell.
    path.write_text(entry(TOKENS["carol"], "alice") + "\n" + entry(TOKENS["bob"], "bob") + "\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert auth.agent_for(TOKENS["alice"].encode()) is None
    assert auth.agent_for(TOKENS["carol"].encode()) == Principal("alice")

    # A broken line while serving grants nothing and does not take the other tokens down.
    with open(path, "a") as f:
        f.write('{"sha256": "not hex", "agent": "mallory"}\n')
    assert auth.agent_for(TOKENS["bob"].encode()) == Principal("bob")
    assert "line 3 is not a token entry" in caplog.text

    path.unlink()
    for token in TOKENS.values():
        assert auth.agent_for(token.encode()) is None


def test_an_entry_s_access_makes_its_token_read_only_and_absent_access_or_the_shared_token_is_write(tmp_path):
    path = write_tokens(
        tmp_path / "tokens",
        entry(TOKENS["alice"], "alice", access="read"),
        entry(TOKENS["bob"], access="write"),
        entry(TOKENS["carol"]),  # written before `access` existed: it keeps writing
        json.dumps({"sha256": digest("nulled").hex(), "access": None}),
    )
    auth = Authenticator(SHARED, TokensFile(path))
    assert auth.agent_for(TOKENS["alice"].encode()) == Principal("alice", read_only=True)
    assert auth.agent_for(TOKENS["bob"].encode()) == Principal(None, read_only=False)
    assert auth.agent_for(TOKENS["carol"].encode()) == Principal(None, read_only=False)
    assert auth.agent_for(b"nulled") == Principal(None, read_only=False)
    assert auth.agent_for(SHARED.encode()) == Principal(None, read_only=False)


def test_check_digest_answers_for_a_stored_digest_as_the_tokens_file_is_now(tmp_path):
    """What the dashboard's sessions rely on: they keep only the digest, and a token revoked or
    expired after login is refused on the next request."""
    now = [1000.0]
    path = write_tokens(
        tmp_path / "tokens",
        entry(TOKENS["alice"], "alice", "1970-01-01T00:20:00Z", access="read"),
        entry(TOKENS["bob"], "bob"),
    )
    auth = Authenticator(SHARED, TokensFile(path), now=lambda: now[0])
    alice, bob, shared = digest(TOKENS["alice"]), digest(TOKENS["bob"]), digest(SHARED)
    assert auth.check_digest(alice) == Principal("alice", read_only=True)
    assert auth.check_digest(bob) == Principal("bob", read_only=False)
    assert auth.check_digest(shared) == Principal(None, read_only=False)
    assert auth.check_digest(digest(TOKENS["carol"])) is None
    assert auth.check_digest(TOKENS["bob"].encode()) is None  # the raw token is not its digest

    now[0] = 1200.0  # alice's token expires
    assert auth.check_digest(alice) is None
    path.write_text(entry(TOKENS["carol"], "carol") + "\n")  # bob's revoked, carol's added
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert auth.check_digest(bob) is None
    assert auth.check_digest(digest(TOKENS["carol"])) == Principal("carol")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "Expecting value"),
        ("[1, 2]", "not a JSON object"),
        ('{"agent": "a"}', "sha256 must be"),
        ('{"sha256": "%s"}' % ("A" * 64), "sha256 must be"),
        ('{"sha256": "%s", "agent": "a\\nb"}' % ("a" * 64), "agent name"),
        ('{"sha256": "%s", "expires": "2030-01-01T00:00:00"}' % ("a" * 64), "with a zone"),
        ('{"sha256": "%s", "expires": 12}' % ("a" * 64), "with a zone"),
        ('{"sha256": "%s", "access": "admin"}' % ("a" * 64), 'access must be "read" or "write"'),
        ('{"sha256": "%s", "access": "READ"}' % ("a" * 64), 'access must be "read" or "write"'),
        ('{"sha256": "%s", "access": true}' % ("a" * 64), 'access must be "read" or "write"'),
    ],
)
def test_a_malformed_tokens_file_is_refused_at_start_naming_the_line(tmp_path, line, problem):
    path = write_tokens(tmp_path / "tokens", "# made by hand", "", entry(TOKENS["alice"], "alice"), line)
    with pytest.raises(InvalidInput, match="line 4 is not a token entry") as refused:
        TokensFile(path)
    assert problem in str(refused.value)


# ------------------------------------------------------------------ taskloom token new


def test_token_new_prints_the_token_once_and_stores_only_its_hash_in_a_0600_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "conf" / "tokens"
    monkeypatch.setenv("TASKLOOM_TOKENS_FILE", str(path))
    assert main(["token", "new", "--agent", "alice", "--ttl", "12h"]) == 0
    made = capsys.readouterr()
    token = made.out.strip()
    assert made.out == token + "\n" and len(token) >= 43  # 256 random bits, url-safe
    assert "agent alice" in made.err and "shown only this once" in made.err and token not in made.err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token not in path.read_text()
    [line] = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["sha256"] == digest(token).hex() and line["agent"] == "alice" and line["access"] == "write"
    left = datetime.fromisoformat(line["expires"]).timestamp() - time.time()
    assert 12 * 3600 - 120 < left <= 12 * 3600

    # A second token is appended; neither is ever written in clear.
    second, _ = new_token(path, None, None)
    assert second != token
    assert [json.loads(x)["agent"] for x in path.read_text().splitlines()] == ["alice", None]
    assert Authenticator(None, TokensFile(path)).agent_for(token.encode()) == Principal("alice")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "new"], "No tokens file given"),
        (["token", "new", "--tokens", "{tmp}/t", "--ttl", "soon"], "time to live 'soon'"),
        (["token", "new", "--tokens", "{tmp}/t", "--agent", " "], "agent name"),
    ],
)
def test_token_new_refuses_unusable_arguments_with_exit_code_2_and_writes_nothing(
    tmp_path, capsys, monkeypatch, argv, message
):
    monkeypatch.delenv("TASKLOOM_TOKENS_FILE", raising=False)
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    out = capsys.readouterr()
    assert message in out.err and out.out == ""
    assert not (tmp_path / "t").exists()


# ------------------------------------------------------------------ a real server


async def test_a_server_with_a_tokens_file_serves_its_tokens_and_gives_everyone_else_the_same_401(tmp_path):
    db = tmp_path / "t.db"
    path = write_tokens(
        tmp_path / "tokens",
        entry(TOKENS["alice"], "alice", "2999-01-01T00:00:00Z"),
        entry(TOKENS["bob"], "bob", "2001-01-01T00:00:00+00:00"),  # long expired
    )
    # A wildcard bind: a tokens file alone is enough to expose the server.
    with serving_tokens(tmp_path, "http", db, path, host="0.0.0.0", token=SHARED) as (url, _, _):
        headers, body = CREATE
        init_headers, init_body = modern_call("agent_init", {})
        async with httpx2.AsyncClient(timeout=10) as http:
            refusals = []
            for auth in [
                {},
                bearer("wrong"),
                bearer(TOKENS["bob"]),
                bearer(TOKENS["carol"]),
                bearer(digest(TOKENS["alice"]).hex()),
            ]:
                response = await http.post(url, headers={**headers, **auth}, json=body)
                assert_unauthorized(response)
                refusals.append(response.content)
            assert len(set(refusals)) == 1, "a refusal must not tell an expired token from an unknown one"
            assert task_count(db) == 0

            async def agent_of(token: str) -> str:
                response = await http.post(url, headers={**init_headers, **bearer(token)}, json=init_body)
                assert response.status_code == 200, response.text
                return response.json()["result"]["structuredContent"]["agent"]["name"]

            assert await agent_of(TOKENS["alice"]) == "alice"
            assert await agent_of(SHARED) == "wire-agent"  # the shared token: the server's default agent

            # Issued while the server runs: usable at once.
            fresh, _ = new_token(path, "carol", parse_ttl("1h"))
            assert await agent_of(fresh) == "carol"

            # Revoked while the server runs (its line deleted): refused at once, the others still work.
            kept = [x for x in path.read_text().splitlines() if json.loads(x)["agent"] != "alice"]
            path.write_text("\n".join(kept) + "\n")
            assert_unauthorized(
                await http.post(url, headers={**init_headers, **bearer(TOKENS["alice"])}, json=init_body)
            )
            assert await agent_of(fresh) == "carol"
            assert await agent_of(SHARED) == "wire-agent"


@pytest.mark.parametrize("problem", ["missing", "malformed"])
def test_serve_refuses_to_start_on_a_missing_or_malformed_tokens_file_before_opening_anything(
    tmp_path, capsys, problem
):
    path = tmp_path / "tokens"
    if problem == "malformed":
        write_tokens(path, entry(TOKENS["alice"], "alice"), "{oops")
    db = tmp_path / "never.db"
    argv = ["serve", "--transport", "http", "--port", "1", "--db", str(db), "--project", PROJECT, "--tokens", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert ("Cannot read the tokens file" if problem == "missing" else "line 2 is not a token entry") in err
    assert "Traceback" not in err
    assert not db.exists()
