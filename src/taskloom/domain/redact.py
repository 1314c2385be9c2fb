"""Secret redaction for text agents write: message bodies, notes, context, summaries.

Agents paste logs and commands, and logs carry credentials. Whatever reaches the database is
read by every other agent and sits in backups, so secrets are replaced before they are stored.

The patterns are deliberately specific (known key formats, `Bearer` headers, PEM private keys,
passwords in URLs, `password=` style assignments): a false positive mangles an agent's note, so
generic high-entropy guessing is left out. Scanners such as detect-secrets are built to audit
repositories against baselines, not to rewrite a string in the write path.
"""

from __future__ import annotations

import base64
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

MASK = "[REDACTED]"
MAX_PASSES = 4

# Where a secret may start: not inside an ASCII word. Not `\b`, which is Unicode-aware: "密钥AKIA..."
# has no word boundary before the key, because CJK letters are word characters too.
_START = r"(?<![A-Za-z0-9_])"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
    ),
    # scheme://user:password@host: the password only, so the URL stays readable.
    # The password runs to the last '@' before the host, so one holding '/' or '@' is masked whole.
    # Bounded and lazy, so a long run of "://a:" stays linear.
    # The user may be empty: redis://:password@host.
    ("url_password", re.compile(r"(?<=://)([^\s:/@]{0,256}):(\S{1,256}?)(?=@[^\s/@]+(?:[/?#:]|\s|$))")),
    ("bearer", re.compile(_START + r"(?i:(bearer))\s+([A-Za-z0-9\-._~+/]{16,}=*)")),
    # Basic credentials only after the header name ("basic" alone is an everyday word), and only
    # when the value decodes to user:password ("Basic authentication is disabled" is prose).
    ("basic", re.compile(r"(?i:(authorization:\s*basic))\s+([A-Za-z0-9+/]{8,}=*)")),
    (
        "api_key",
        re.compile(
            _START + r"("
            r"sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{20,}"  # OpenAI, Anthropic, Stripe-like
            r"|(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"  # GitHub tokens
            r"|github_pat_[A-Za-z0-9_]{40,}"
            r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab
            r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
            r"|AKIA[0-9A-Z]{16}"  # AWS access key id
            r"|AIza[0-9A-Za-z_\-]{35}"  # Google API key
            r"|npm_[A-Za-z0-9]{36}"
            r"|(?:r|s)k_(?:live|test)_[A-Za-z0-9]{20,}"  # Stripe
            r")"
        ),
    ),
    # password=..., api_key: "...", AWS_SECRET_ACCESS_KEY=...: keep the name, hide the value.
    (
        "assignment",
        re.compile(
            r"(?i)" + _START + r"([A-Z0-9_]*(?:passw(?:or)?d|passwd|pwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|private[_-]?key)[A-Z0-9_]*)"
            r"([\"']?\s*[:=]\s*)(\"[^\"\n]{4,}\"|'[^'\n]{4,}'|[^\s\"',;})]{4,})"
        ),
    ),
    # GITHUB_TOKEN=..., access_token: ..., "refresh_token": "...": the name must end in "token",
    # so max_tokens or tokenizer settings are left alone, and the value must look like a
    # credential (see _mask), so pad_token = tokenizer.eos_token or next_token=None stay.
    (
        "token_assignment",
        re.compile(
            r"(?i)" + _START + r"([A-Z0-9_\-]*token)(?![A-Za-z0-9_])"
            r"([\"']?\s*[:=]\s*)(\"[^\"\n]{4,}\"|'[^'\n]{4,}'|[^\s\"',;})]{4,})"
        ),
    ),
)


# The cheap pre-check: every pattern above needs one of these literals, lowercased, so a text
# holding none of them is returned as it is without running the patterns (most text is such).
# A pattern added above needs its literal here: tests/domain/test_redact_fast.py compares both paths.
_TRIGGERS = (
    "-----begin",  # private_key
    "://",  # url_password
    "bearer",
    "authorization",  # basic
    *("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox"),  # api_key
    *("akia", "aiza", "npm_", "k_live_", "k_test_"),  # api_key
    *("passw", "pwd", "secret", "key"),  # assignment: api_key, access_key, private_key end in "key"
    "token",  # token_assignment, and assignment's auth_token
)


def _gated(triggers: tuple[str, ...], gates: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`triggers` grouped by the first of `gates` each holds ("" for none of them)."""
    def gate(trigger: str) -> str:
        return next((g for g in gates if g in trigger), "")

    return tuple((g, tuple(t for t in triggers if gate(t) == g)) for g in ("", *gates))


# The triggers by a character that each holds and prose seldom does: a text without "_" cannot
# hold "ghp_" or "npm_", so one scan for "_" stands in for the nine scans that need it (a plan's
# text columns are looked over once per trigger, most of the pre-check's cost).
_GATED = _gated(_TRIGGERS, "_-")
# The characters besides its own two cases that IGNORECASE matches to an ASCII letter (the re
# module's documentation lists them), folded so that "ſecret" still meets the pre-check.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class Masked(str):
    """Text that has been through `redact`. The store's guard passes it without scanning it again:
    a 60 KB reason was scanned four times in one write before this."""


@dataclass(frozen=True)
class Redacted:
    text: Masked
    count: int


_NOTHING = Redacted(Masked(""), 0)


def redact(text: str | None) -> Redacted:
    """`text` with every secret replaced by a mask, and how many were replaced."""
    if not text:
        return _NOTHING
    if isinstance(text, Masked):
        return Redacted(text, 0)
    folded = _fold(text)
    for trigger in _TRIGGERS:
        if trigger in folded:
            return _redact_all(text)
    return Redacted(Masked(text), 0)


def redact_many(texts: Sequence[str | None]) -> list[Redacted]:
    """`redact` of each text, with one pre-check over all of them: a plan's ten thousand titles
    are looked over in a few scans of one string, and only the texts holding a trigger run the
    patterns."""
    out: list[Redacted | None] = [None] * len(texts)
    todo: list[int] = []
    for i, text in enumerate(texts):
        if not text:
            out[i] = _NOTHING
        elif isinstance(text, Masked):
            out[i] = Redacted(text, 0)
        else:
            todo.append(i)
    suspects = _suspects([texts[i] for i in todo])  # type: ignore[misc]
    for k, i in enumerate(todo):
        text = texts[i]
        out[i] = _redact_all(text) if k in suspects else Redacted(Masked(text), 0)  # type: ignore[arg-type]
    return out  # type: ignore[return-value]


def redacted_only(texts: Sequence[str]) -> dict[int, Redacted]:
    """`redact_many` for a bulk write (an import's 200k rows): only the texts that held a secret,
    by index; every other text is stored as it is, so none of them costs an object here."""
    found = {}
    for k in _suspects(texts):
        masked = _redact_all(texts[k])
        if masked.count:
            found[k] = masked
    return found


def _suspects(texts: Sequence[str]) -> set[int]:
    """The indexes of the texts that hold a trigger (no text here is empty or Masked)."""
    if not texts:
        return set()
    # No trigger holds a NUL, so none can span two texts joined by one.
    joined = "\0".join(texts)
    if joined.isascii():  # the usual case: one fold of the whole, and ASCII folding keeps every length
        folded, pieces = joined.lower(), texts
    else:
        pieces = [_fold(t) for t in texts]
        folded = "\0".join(pieces)
    starts: list[int] = []  # where each piece begins in `folded`: counted at the first hit only
    suspects: set[int] = set()
    for gate, triggers in _GATED:
        if gate and gate not in folded:
            continue
        for trigger in triggers:
            at = folded.find(trigger)
            if at >= 0 and not starts:
                starts = list(accumulate((len(p) + 1 for p in pieces[:-1]), initial=0))
            while at >= 0:
                k = bisect_right(starts, at) - 1
                suspects.add(k)
                at = folded.find(trigger, starts[k + 1]) if k + 1 < len(starts) else -1
    return suspects


def _fold(text: str) -> str:
    """`text` lowercased as IGNORECASE matches it, so a literal check can stand in for `(?i)`."""
    return text.lower() if text.isascii() else text.translate(_FOLD).lower()


def _redact_all(text: str) -> Redacted:
    """Every pattern over `text`, until nothing changes: the path a text with a trigger takes."""
    hits = 0

    def replace(kind: str, m: re.Match[str]) -> str:
        nonlocal hits
        masked = _mask(kind, m)
        hits += masked != m.group(0)
        return masked

    # Masking one secret can expose another (a key glued to the end of a key has no word
    # boundary until its neighbour is masked), so repeat until nothing changes.
    for _ in range(MAX_PASSES):
        before = hits
        for kind, pattern in _PATTERNS:
            text = pattern.sub(lambda m, kind=kind: replace(kind, m), text)
        if hits == before:
            break
    return Redacted(Masked(text), hits)


def _mask(kind: str, m: re.Match[str]) -> str:
    if kind == "url_password":
        return f"{m.group(1)}:{MASK}"
    if kind == "bearer":
        return f"{m.group(1)} {MASK}"
    if kind == "basic":
        return f"{m.group(1)} {MASK}" if _is_basic_credential(m.group(2)) else m.group(0)
    if kind in ("assignment", "token_assignment"):
        name, op, value = m.groups()
        bare = value.strip("\"'")
        # "the password: changed" is prose; "password: hunter2" or PASSWORD=... is a secret.
        prose = op.strip("\"' \t") == ":" and value == bare and bare.isalpha() and len(bare) < 12
        not_credential = kind == "token_assignment" and not _looks_like_token(bare)
        if bare == MASK or prose or not_credential:
            return m.group(0)
        return f"{name}{op}{MASK}"
    return MASK


def _is_basic_credential(value: str) -> bool:
    try:
        return ":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False


def _looks_like_token(value: str) -> bool:
    """Issued tokens mix letters and digits; counts, names, None and identifiers do not."""
    return len(value) >= 8 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
