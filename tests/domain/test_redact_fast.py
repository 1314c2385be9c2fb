"""The redaction pre-check changes nothing: the fast path gives what running every pattern gives.

`redact` skips the patterns when a text holds none of their literals, and `redact_many` looks for
those literals in many texts at once. Both are compared here with `_redact_all`, the patterns
run unconditionally (the path every text took before the pre-check), on random text with
secrets, their literals in any case and the letters IGNORECASE folds (ſ, K, İ, ı) spliced in.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from taskloom.domain import redact as redaction
from taskloom.domain.redact import Masked, Redacted, _redact_all, redact, redact_many, redacted_only
from tests.domain.test_redact import ANY_TEXT, SECRETS
from tests.fuzz.test_redaction_fuzz import secrets

# What makes a pattern match, cut short or varied in case: the pre-check must never be stricter
# than the patterns, and near misses are where it could be.
FRAGMENTS = [
    "password=",
    "PassWord: ",
    "pwd=",
    "secret",
    "api-key",
    "ACCESS_KEY=",
    "private_key",
    "auth_token=",
    "GITHUB_TOKEN=",
    "refresh_token: ",
    "Bearer ",
    "Authorization: Basic ",
    "://",
    "://u:",
    "@host",
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "sk-",
    "sk_live_",
    "rk_test_",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "AKIA",
    "AIza",
    "npm_",
    "dXNlcjpodW50ZXIyMjIy",
    "0a1b2c3d4e5f6a7b8c9d",
    "hunter2xyz",
    "'",
    '"',
    "=",
    ":",
]
FOLDS = {"s": "\u017f", "k": "\u212a", "i": "\u0131", "I": "\u0130"}


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """A fragment or a secret with some letters swapped for their other case or a folding look-alike."""
    piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(SECRETS), secrets().map(lambda s: s[0])))
    flips = draw(st.lists(st.sampled_from(["upper", "lower", "fold", "keep"]), min_size=len(piece), max_size=len(piece)))
    out = []
    for ch, how in zip(piece, flips, strict=True):
        if how == "upper":
            ch = ch.upper()
        elif how == "lower":
            ch = ch.lower()
        elif how == "fold":
            ch = FOLDS.get(ch, ch)
        out.append(ch)
    return "".join(out)


SPLICED = st.lists(st.one_of(ANY_TEXT.map(lambda s: s[:20]), disguised(), st.sampled_from(FRAGMENTS)), max_size=8).map(
    "".join
)


# Each secret of every kind, whole: the deterministic half of the comparison.
WHOLE = [
    *SECRETS,
    "Bearer abcdefghijklmnop0123456789",
    "curl -H 'Authorization: Basic dXNlcjpodW50ZXIyMjIy'",
    "export GITHUB_TOKEN=0a1b2c3d4e5f6a7b8c9d",
    "auth_token: 12345678",
    "AWS_ACCESS_KEY=abcd1234efgh",
    "private-key: abcd1234efgh",
    "pwd=p4ss;user=bob",
    "redis://:s3cretPassw0rd@cache:6379/0",
    "sk_live_" + "a1B2c3D4e5F6g7H8i9J0k1L2",
    "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
]


def test_each_kind_of_secret_is_masked_on_the_fast_path_as_on_the_full_one():
    for text in WHOLE:
        assert _redact_all(text).count, text  # a real secret
        for variant in (text, text.upper(), text.lower(), f"x {text} y", f"{text}\n{text}"):
            assert redact(variant) == _redact_all(variant), variant
        assert redact_many(["plain", text, "plain"])[1] == _redact_all(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SPLICED)
@example("\u017fecret=hunter2xyz")  # ſ: IGNORECASE matches it to s
@example("api_\u212aey: abcd1234efgh")  # K (Kelvin sign) to k
@example("AUTH_TOKEN=0a1b2c3d4e5f")
@example("Task 12: do part 12 of the work")
def test_the_fast_path_gives_what_running_every_pattern_gives(text):
    assert redact(text) == _redact_all(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(SPLICED, st.none(), st.just("")), max_size=8))
@example(["plain", "password=hunter2xyz", "plain again"])
@example(["ends with ://", "u:pw@host"])  # a trigger cut across two texts is no trigger
def test_redact_many_gives_what_redact_gives_each_text(texts):
    assert redact_many(texts) == [redact(t) for t in texts]
    assert redact_many(texts) == [_redact_all(t) if t else Redacted("", 0) for t in texts]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(SPLICED, st.just("")), max_size=8))
@example(["plain", "password=hunter2xyz", "\u017fecret=hunter2xyz"])  # one ASCII text, one not
@example(["ends with ://", "u:pw@host"])
def test_redacted_only_names_exactly_the_texts_redact_changes(texts):
    assert redacted_only(texts) == {i: r for i, r in enumerate(map(_redact_all, texts)) if r.count}


def test_redact_many_passes_masked_text_without_scanning_it():
    masked = Masked("password=hunter2xyz")  # as if an earlier pass had left it so
    assert redact_many([masked]) == [Redacted(masked, 0)]


def test_every_character_ignorecase_matches_to_a_trigger_letter_folds_to_that_letter():
    # The pre-check lowercases; IGNORECASE also equates a few other characters with ASCII
    # letters. Each must fold to its letter, or a secret spelt with it would skip the patterns.
    letters = sorted({c for t in redaction._TRIGGERS for c in t if c.isalpha()})
    every = "".join(chr(c) for c in range(0x110000))
    alike = set(re.findall("[" + "".join(letters) + "]", every, re.IGNORECASE))
    for ch in alike:
        for letter in letters:
            if re.fullmatch(letter, ch, re.IGNORECASE):
                assert redaction._fold(ch) == letter, (hex(ord(ch)), letter)


def test_every_trigger_is_looked_for_once_and_only_behind_a_character_it_holds():
    looked_for = [t for _, group in redaction._GATED for t in group]
    assert sorted(looked_for) == sorted(redaction._TRIGGERS)
    assert all(gate in t for gate, group in redaction._GATED if gate for t in group)


def test_a_trigger_behind_a_gate_is_found_among_many_texts():
    texts = ["plain prose"] * 50 + ["token ghp_" + "a" * 36] + ["a-b"] * 10 + ["x sk-" + "b" * 24]
    assert set(redacted_only(texts)) == {50, 61}
