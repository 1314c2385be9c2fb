"""Secrets never reach the disk: every free-text write path masks them before storing.

The check reads the raw bytes of the SQLite file and its write-ahead log, so it also covers
copies the tools never show: event payloads, escalation rows and messages, notes, old task
fields. A marker word sent next to each secret must be found, so the scan is known to see the
text that was written.
"""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call, stored_bytes, write_verbatim

# Fake credentials, each used on exactly one path so a leak names its path.
SECRETS = {
    "message_body": "sk-ant-api03-" + "MsgBodyKey0123456789abcdefghij",
    "message_subject": "ghp_" + "SubjectTok0123456789abcdefghijklmn",
    "note_aws": "AKIA" + "NOTE0123456789AB",
    "note_password": "n0te-p4ssw0rd-value",
    "context_pem_line": "MIIEpAIBAAKCAQEAcontextPemBodyLine0123456789",
    "create_description_url_pw": "descUrlPassw0rd",
    "create_context_slack": "xoxb-" + "1111111111-ctxSlackToken0001",
    "done_summary": "AIza" + "SyDoneSummary0123456789abcdefghijkl",
    "fail_reason": "glpat-" + "failReasonToken0123456789",
    "block_reason": "blockBearerToken0123456789abcdef",
    "unblock_answer": "sk-proj-" + "unblockAnswerKey0123456789",
    "release_reason": "r3lease-Secret-Value-42",
    "review_reason": "ghp_" + "ReviewTok0123456789abcdefghijklmn",
    "log_key": "sk-proj-" + "agentLogKey0123456789abcdef",
    "log_secret_key": "django-insecure-logsecret-77",
}

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    f"{SECRETS['context_pem_line']}\n"
    "Q2h3RmY5s8pQ+ZKXyW6Lq4vN0tB7eYkP1uHcD3fGiJ2kLmN4oPqR5sTuV6wXyZa\n"
    "-----END RSA PRIVATE KEY-----"
)


def markers() -> dict[str, str]:
    """A harmless, unique word per path: it must be stored as written."""
    return {path: f"zebracorn{i:02d}{path.replace('_', '')}" for i, path in enumerate(SECRETS)}


M = markers()



def assert_clean(data: bytes, where: str) -> None:
    leaks = [name for name, secret in SECRETS.items() if secret.encode() in data]
    assert leaks == [], f"plaintext secrets found in {where}: {leaks}"
    missing = [name for name, word in M.items() if word.encode() not in data]
    assert missing == [], f"marker words not found in {where} (the scan would see nothing): {missing}"


async def write_everything(c: Client) -> dict[str, int]:
    """Send each secret down its path; return each tool's reported `redacted` count."""
    s, counts = SECRETS, {}
    await call(c, "agent_init", agent="alice", role="dev")
    await call(c, "agent_init", agent="boss", role="orchestrator")
    await call(
        c,
        "task_create",
        agent="boss",
        tasks=[
            {
                "title": "notes and context",
                "code": "NOTE",
                "description": f"{M['create_description_url_pw']}: "
                f"postgres://app:{s['create_description_url_pw']}@db.internal:5432/app",
                "context": f"{M['create_context_slack']} slack bot {s['create_context_slack']}",
            },
            {"title": "to fail", "code": "FAIL", "max_attempts": 1},
            {"title": "to block", "code": "BLOCK"},
            {"title": "to review", "code": "REVIEW", "requires_review": True},
            {"title": "waits on FAIL", "code": "AFTER", "depends_on": ["FAIL"]},
        ],
    )

    sent = await call(
        c,
        "message_send",
        agent="alice",
        to="boss",
        subject=f"{M['message_subject']} token {s['message_subject']}",
        body=f"{M['message_body']}\nuse {s['message_body']} for staging",
    )
    counts["message_send"] = sent["redacted"]

    noted = await call(
        c,
        "task_note",
        agent="alice",
        task="NOTE",
        body=f"{M['note_aws']} {M['note_password']} key {s['note_aws']} and password={s['note_password']}",
    )
    counts["task_note"] = noted["redacted"]
    ctx = await call(c, "task_context", agent="alice", task="NOTE", text=f"{M['context_pem_line']}\n{PEM}")
    counts["task_context"] = ctx["redacted"]

    await call(c, "task_claim", agent="alice", task="NOTE")
    done = await call(
        c, "task_done", agent="alice", task="NOTE", summary=f"{M['done_summary']} key {s['done_summary']}"
    )
    counts["task_done"] = done["redacted"]

    await call(c, "task_claim", agent="alice", task="FAIL")
    failed = await call(
        c, "task_fail", agent="alice", task="FAIL", reason=f"{M['fail_reason']} rejected {s['fail_reason']}"
    )
    counts["task_fail"] = failed["redacted"]
    assert failed["task"]["status"] == "failed"  # escalated: reason copied to escalation rows and messages

    await call(c, "task_claim", agent="alice", task="BLOCK")
    blocked = await call(
        c,
        "task_block",
        agent="alice",
        task="BLOCK",
        reason=f"{M['block_reason']} API says no to Authorization: Bearer {s['block_reason']}",
    )
    counts["task_block"] = blocked["redacted"]
    unblocked = await call(
        c,
        "task_unblock",
        agent="boss",
        task="BLOCK",
        answer=f"{M['unblock_answer']} use {s['unblock_answer']} instead",
    )
    counts["task_unblock"] = unblocked["redacted"]
    await call(
        c,
        "task_release",
        agent="alice",
        task="BLOCK",
        reason=f"{M['release_reason']} PASSWORD={s['release_reason']}",
    )

    await call(c, "task_claim", agent="alice", task="REVIEW")
    await call(c, "task_done", agent="alice", task="REVIEW", summary="ready for review")
    await call(
        c,
        "task_review",
        agent="boss",
        task="REVIEW",
        approve=False,
        reason=f"{M['review_reason']} you committed {s['review_reason']}",
    )

    logged = await call(
        c,
        "agent_log",
        agent="alice",
        task="NOTE",
        text=f"{M['log_key']} {M['log_secret_key']} ran with {s['log_key']} SECRET_KEY={s['log_secret_key']}",
    )
    counts["agent_log"] = logged["redacted"]
    return counts


async def test_no_plaintext_secret_reaches_the_database_or_its_wal(settings: Settings, clock: ManualClock):
    db_path = settings.db_path
    app = await Taskloom.open(settings, clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            counts = await write_everything(c)
            # Everything was also readable back, masked, through the tools.
            note = await call(c, "task_get", task="NOTE")
            assert "[REDACTED]" in note["task"]["context"]
            assert "[REDACTED]" in note["task"]["description"]
            assert note["task"]["summary"] == f"{M['done_summary']} key [REDACTED]"
        if settings.db_url is None:  # while open, the latest writes sit in the WAL
            assert Path(str(db_path) + "-wal").exists()
        assert_clean(stored_bytes(settings), "the open database and its WAL")
    finally:
        await app.close()

    assert_clean(stored_bytes(settings), "the closed database")
    assert counts == {
        "message_send": 2,  # body + subject
        "task_note": 2,  # AWS key + password assignment
        "task_context": 1,
        "task_done": 1,
        "task_fail": 1,
        "task_block": 1,
        "task_unblock": 1,
        "agent_log": 2,  # sk-proj key + SECRET_KEY assignment
    }


async def test_the_scan_finds_a_secret_written_past_the_guard(settings: Settings, clock: ManualClock):
    """The control: a secret written by raw SQL (no path of taskloom's stores one verbatim any more)
    is found by the same scan."""
    app = await Taskloom.open(settings, clock)
    verbatim = "AKIA" + "MEMORYVERBATIM01"
    try:
        write_verbatim(
            settings,
            "INSERT INTO memory (project_id, scope, key, value, updated_at) VALUES (?, 'project', 'k', ?, 0)",
            (app.project_id, verbatim),
        )
    finally:
        await app.close()
    assert verbatim.encode() in stored_bytes(settings)


# Regression: the default subject used to be cut to 77 characters *before* redaction, so a key
# cut in half no longer matched its pattern and most of it was stored in the subject.
async def test_a_secret_cut_by_the_default_subject_is_not_stored(settings: Settings, clock: ManualClock):
    token = "ghp_" + "Cut0123456789abcdefghijklmnopqrstuv"  # 36 characters after the prefix
    prefix = "Please deploy the release branch now, using "  # puts the 77-character cut inside the token
    app = await Taskloom.open(settings, clock)
    try:
        async with Client(build_server(app), mode="legacy") as c:
            await call(c, "agent_init", agent="bob")
            sent = await call(c, "message_send", agent="alice", to="bob", body=prefix + token)
            assert sent["redacted"] >= 1  # the body's copy was masked
            [msg] = (await call(c, "message_inbox", agent="bob"))["messages"]
            assert msg["body"] == prefix + "[REDACTED]"
    finally:
        await app.close()
    stored = stored_bytes(settings)
    # 20 characters of the token's secret part are enough to call it leaked.
    assert token[4:24].encode() not in stored
