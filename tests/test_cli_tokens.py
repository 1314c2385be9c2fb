"""`taskloom token list` and `taskloom token revoke` on a real tokens file, as subprocesses, and
what a running server's reader of that file (TokensFile) sees after a revoke."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from taskloom.server.auth import TokensFile, digest
from tests.test_cli import refused, taskloom


def new(path: Path, *args: str) -> str:
    run = taskloom("token", "new", "--tokens", str(path), *args)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def listed(path: Path) -> list[dict]:
    run = taskloom("token", "list", "--tokens", str(path), "--json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_list_shows_each_token_s_hash_prefix_agent_dates_and_whether_it_expired(tmp_path):
    path = tmp_path / "tokens.jsonl"
    alice = new(path, "--agent", "alice", "--ttl", "7d")
    anyone = new(path)
    with path.open("a") as f:
        f.write('# a comment\n{"sha256": "' + "ab" * 32 + '", "agent": "old", "expires": "2020-01-01T00:00:00Z"}\n')
        f.write("not json\n")
    found = listed(path)
    assert [(e.get("sha256_prefix"), e.get("agent"), e.get("expired")) for e in found] == [
        (digest(alice).hex()[:12], "alice", False),
        (digest(anyone).hex()[:12], None, False),
        ("ab" * 6, "old", True),
        (None, None, None),
    ]
    assert found[0]["expires"] and found[0]["created"] and found[1]["expires"] is None
    assert "server ignores it" in found[3]["error"]
    text = taskloom("token", "list", "--tokens", str(path)).stdout
    assert "alice" in text and "(any agent)" in text and "expired" in text and "never" in text
    assert alice not in text and anyone not in text  # only hashes are stored, and only prefixes shown


def test_new_read_only_writes_read_access_and_list_shows_each_token_s_access(tmp_path):
    path = tmp_path / "tokens.jsonl"
    viewer = taskloom("token", "new", "--tokens", str(path), "--agent", "viewer", "--read-only")
    assert viewer.returncode == 0, viewer.stderr
    assert "read-only token for agent viewer" in viewer.stderr
    writer = new(path)
    with path.open("a") as f:  # a line from before `access` existed
        f.write('{"sha256": "' + "cd" * 32 + '", "agent": "old"}\n')
    assert [json.loads(x).get("access") for x in path.read_text().splitlines()] == ["read", "write", None]
    assert [(e["agent"], e["access"]) for e in listed(path)] == [("viewer", "read"), (None, "write"), ("old", "write")]
    text = taskloom("token", "list", "--tokens", str(path)).stdout.splitlines()
    column = text[0].index("ACCESS")
    assert [line[column:].split()[0] for line in text[1:]] == ["read", "write", "write"]
    assert TokensFile(path).entries()[0].read_only and not TokensFile(path).entries()[1].read_only
    assert writer not in path.read_text()


def test_revoke_removes_the_token_atomically_keeps_the_rest_and_mode_0600_and_the_server_notices(tmp_path):
    path = tmp_path / "tokens.jsonl"
    alice, bob = new(path, "--agent", "alice"), new(path, "--agent", "bob")
    with path.open("a") as f:
        f.write("# keep this comment\n")
    reader = TokensFile(path)  # what `taskloom serve --tokens` holds
    inode = path.stat().st_ino
    run = taskloom("token", "revoke", digest(alice).hex()[:8], "--tokens", str(path))
    assert run.returncode == 0, run.stderr
    assert "revoked" in run.stderr
    assert [e.sha256 for e in reader.entries()] == [digest(bob)]
    assert "# keep this comment" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_ino != inode
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".tokens.jsonl.lock", "tokens.jsonl"], "no temporary file left behind, only the edit lock"


def test_revoke_refuses_an_ambiguous_or_unknown_prefix_and_changes_nothing(tmp_path):
    path = tmp_path / "tokens.jsonl"
    lines = [{"sha256": "abcd" + c * 60, "agent": a} for c, a in (("1", "a"), ("2", "b"))]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    os.chmod(path, 0o600)
    before = path.read_text()
    refused(taskloom("token", "revoke", "abcd", "--tokens", str(path)), "invalid_input", "matches 2 tokens")
    refused(taskloom("token", "revoke", "ffff", "--tokens", str(path)), "not_found")
    refused(taskloom("token", "revoke", "xyz", "--tokens", str(path)), "invalid_input", "hex")
    assert path.read_text() == before
    assert taskloom("token", "revoke", "abcd2", "--tokens", str(path)).returncode == 0
    assert [e["agent"] for e in listed(path)] == ["a"]


def test_list_without_a_tokens_file_says_how_to_make_one(tmp_path):
    refused(taskloom("token", "list", "--tokens", str(tmp_path / "none.jsonl")), "not_found", "token new")
