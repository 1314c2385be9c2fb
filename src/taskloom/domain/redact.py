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
from dataclasses import dataclass

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


# Every pattern above needs one of these words in the lowered text: a text with none of them
# holds no secret. Most texts (titles, notes, event subjects) have none, so a few substring tests
# (2 us) let them through instead of seven regex passes; an import of 100k tasks spent 2/3 of its
# time in those. A pattern added above needs its word here (tests/domain/test_redact.py checks).
_TRIGGERS = (
    "-----begin", "://", "bearer", "basic", "sk-", "k_live_", "k_test_", "gho_", "ghp_", "ghs_", "ghu_", "ghr_",
    "github_pat_", "glpat-", "xox", "akia", "aiza", "npm_", "passw", "pwd", "secret", "key", "token",
)
# Letters outside ASCII that the (?i) patterns match to an ASCII letter (dotted and dotless I, LONG S,
# KELVIN SIGN): `lower()` does not map them all, so a text holding one gets the full scan.
FOLDS_TO_ASCII = frozenset("\u0130\u0131\u017f\u212a")


def _may_hold_secret(text: str) -> bool:
    if not text.isascii() and not FOLDS_TO_ASCII.isdisjoint(text):
        return True
    low = text.lower()
    return any(word in low for word in _TRIGGERS)


class Masked(str):
    """Text that has been through `redact`. The store's guard passes it without scanning it again:
    a 60 KB reason was scanned four times in one write before this."""


@dataclass(frozen=True)
class Redacted:
    text: Masked
    count: int


def redact(text: str | None) -> Redacted:
    """`text` with every secret replaced by a mask, and how many were replaced."""
    if not text:
        return Redacted(Masked(text or ""), 0)
    if isinstance(text, Masked):
        return Redacted(text, 0)
    if not _may_hold_secret(text):
        return Redacted(Masked(text), 0)
    return scan(text)


def scan(text: str) -> Redacted:
    """`redact` without its first look for a trigger word: every pattern, every pass."""
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
