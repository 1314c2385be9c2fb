"""Redaction holds under fuzzing: a generated secret, set anywhere in random unicode text, never
reaches the database file, its WAL, or any answer.

tests/domain/test_redact.py fuzzes `redact()` with fixed secrets between plain words, and
tests/server/test_redaction_at_rest.py sends one fixed secret down each write path. Here the
secrets themselves are generated (API keys of each family, bearer tokens, PEM private keys,
passwords in URLs, `password=` assignments), each with a unique tag so a hit cannot be a
coincidence, and set in text of any script between separators (space, punctuation, quotes, NUL,
an RTL mark) or glued to letters of scripts written without spaces, then sent through
message_send (body and subject), task_note, task_context and task_create's description. After each example the raw bytes of the .db and -wal files are
scanned, and so is everything the tools answered, including the read-backs.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import disk_bytes
from tests.fuzz.rig import Rig, examples

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
B64 = ALNUM + "+/"
# What may stand right before or after a secret: separators as in real logs, and letters of
# scripts written without spaces (a secret glued to CJK text is still a secret).
SEPARATORS = [" ", "\n", "\t", "(", ")", '"', "'", ",", ";", "\x00", "\u202e", "<", ">", "[", "|", "\u3000", "。"]
SEPARATORS += ["密", "码", "キ", "é", "я", "ع"]
_tags = itertools.count(100_000)


def tag() -> str:
    """A unique, alphanumeric stamp: hypothesis likes low-entropy text such as 'AAAA', which could
    also occur in the file by chance."""
    return f"Q{next(_tags)}Z"


def body(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=low, max_size=high)


@st.composite
def secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(the text to paste, the parts of it that must never be stored)."""
    kind = draw(st.sampled_from(["sk", "github", "aws", "slack", "bearer", "pem", "url", "assignment"]))
    t = tag()
    if kind == "sk":
        key = (
            "sk-"
            + draw(st.sampled_from(["", "ant-", "proj-", "live-", "test-"]))
            + draw(body(ALNUM + "_-", 14, 40))
            + t
        )
        return key, [key]
    if kind == "github":
        key = draw(st.sampled_from(["ghp", "gho", "ghu", "ghs", "ghr"])) + "_" + draw(body(ALNUM, 24, 40)) + t
        return key, [key]
    if kind == "aws":
        key = "AKIA" + draw(body(UPPER_DIGITS, 16 - len(t), 16 - len(t))) + t.upper()
        return key, [key]
    if kind == "slack":
        key = "xox" + draw(st.sampled_from("abposr")) + "-" + draw(body(ALNUM + "-", 4, 30)) + t
        return key, [key]
    if kind == "bearer":
        token = draw(body(ALNUM + "-._~+/", 10, 40)) + t + draw(st.sampled_from(["", "=", "=="]))
        return draw(st.sampled_from(["Bearer", "bearer", "BEARER"])) + draw(st.sampled_from([" ", "  "])) + token, [
            token.rstrip("=")
        ]
    if kind == "pem":
        flavour = draw(st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA "]))
        lines = [draw(body(B64, 20, 64)) + t + str(i) for i in range(draw(st.integers(1, 4)))]
        text = f"-----BEGIN {flavour}PRIVATE KEY-----\n" + "\n".join(lines) + f"\n-----END {flavour}PRIVATE KEY-----"
        return text, lines
    if kind == "url":
        password = draw(body(ALNUM + "!$*-._~", 2, 20)) + t
        scheme = draw(st.sampled_from(["postgres", "https", "redis", "mysql", "amqp"]))
        user = draw(body(ALNUM, 1, 10))
        rest = draw(st.sampled_from(["/db", ":5432/app", "/", "?x=1", ""]))
        return f"{scheme}://{user}:{password}@db.internal{rest}", [password]
    name = draw(st.sampled_from(["password", "DB_PASSWORD", "api_key", "API-KEY", "secret", "auth_token", "pwd"]))
    op = draw(st.sampled_from(["=", ": ", " = ", "="]))
    value = draw(body(ALNUM + "-./", 2, 20)) + t  # the tag's digits make it no prose word
    quote = draw(st.sampled_from(["", '"', "'"]))
    return f"{name}{op}{quote}{value}{quote}", [value]


PROSE = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@st.composite
def carriers(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Random text, a separator, the secret, a separator, more random text."""
    pasted, hidden = draw(secrets())
    before, after = draw(PROSE), draw(PROSE)
    left, right = draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS))
    return f"{before}{left}{pasted}{right}{after}", hidden



def answer_text(result: Any) -> str:
    return result.text + json.dumps(result.structured, ensure_ascii=False)



PATHS = ["message_body", "message_subject", "task_note", "task_context", "task_description"]


@settings(
    max_examples=examples(70),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(cases=st.fixed_dictionaries({path: carriers() for path in PATHS}))
async def test_generated_secrets_in_any_text_never_reach_the_disk_or_an_answer(rig: Rig, cases: dict[str, Any]):
    marker = tag()  # a harmless word next to each secret: the scan must find it
    texts = {path: f"{marker}{path} {text}" for path, (text, _) in cases.items()}
    answers = []
    message = {"to": "bob", "body": texts["message_body"], "agent": "alice"}
    if len(texts["message_subject"]) <= 200:  # a subject's limit; cutting one could cut a secret in half
        message["subject"] = texts["message_subject"]
    async with rig.session() as c:
        sent = await rig.call(c, "message_send", message)
        answers.append(sent)
        answers.append(await rig.call(c, "task_note", {"task": "T-1", "body": texts["task_note"]}))
        answers.append(await rig.call(c, "task_context", {"task": "T-1", "text": texts["task_context"]}))
        created = await rig.call(
            c, "task_create", {"tasks": [{"title": "carrier", "description": texts["task_description"]}]}
        )
        answers.append(created)
        assert all(a.ok for a in answers), [a.text for a in answers if not a.ok]
        answers.append(await rig.call(c, "task_get", {"task": "T-1"}))
        answers.append(await rig.call(c, "task_get", {"task": created.structured["tasks"][0]["code"]}))
        answers.append(await rig.call(c, "message_inbox", {"agent": "bob", "limit": 200}))
        answers.append(await rig.call(c, "activity_feed", {"limit": 200, "since": 0}))
        stored = disk_bytes(rig.db_path)
    said = "".join(answer_text(a) for a in answers)
    for path, (_, hidden) in cases.items():
        for part in hidden:
            assert part.encode() not in stored, f"{path}: {part!r} is on disk (sent {texts[path]!r})"
            assert part not in said, f"{path}: {part!r} is in an answer (sent {texts[path]!r})"
    assert f"{marker}task_note".encode() in stored, "the scan does not see what was written"


# ---------------------------------------------------------------- regressions


# CJK text has no spaces, and CJK letters are word characters: a leading `\b` used to let these through.


@pytest.mark.parametrize(
    "text,secret",
    [
        ("密钥AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("令牌ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("数据库密码password=hunter2xyz9", "hunter2xyz9"),
    ],
    ids=["aws-after-chinese", "github-after-chinese", "assignment-after-chinese"],
)
async def test_a_secret_right_after_chinese_text_is_masked(rig: Rig, text: str, secret: str):
    async with rig.session() as c:
        sent = await rig.call(c, "message_send", {"to": "bob", "body": text, "agent": "alice"})
        assert sent.ok
        assert secret.encode() not in disk_bytes(rig.db_path)
