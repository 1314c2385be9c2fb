"""Search rules: what a query may say, and how any user text becomes a safe FTS5 query. No I/O.

FTS5's MATCH has a grammar of its own (NEAR(...), column filters, `^`, `*`, bare operators): raw
user text there fails on a hyphen, a dot or a stray quote. So every word goes in as an FTS5
string, quoted, its inner quotes doubled, and only the operators built here are ever written.
PostgreSQL's `websearch_to_tsquery` reads the same syntax from the text as a bound parameter and
never raises, so it gets the cleaned text as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SearchKind = Literal["task", "note", "message", "artifact"]
# The index's row key is id * 8 + code (see the 0010 migration): the triggers write these codes.
KIND_CODES: dict[str, int] = {"task": 0, "note": 1, "message": 2, "artifact": 3}
KINDS_BY_CODE = {code: kind for kind, code in KIND_CODES.items()}
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Ranking costs every match (bm25 scores each, ~5-15 us apiece on 2 shared cores), and before
# that every document each word of the query is in (bm25 counts them: 45 ms for a word in 350k
# of 400k documents). So a query matching more documents than RANK_WINDOW, or with a word in more
# than TERM_WINDOW, answers newest first, unranked, and says so.
RANK_WINDOW = 500
TERM_WINDOW = 20_000
# ...looking at its newest this many matches at most: a filter that keeps few of them would
# otherwise walk every match of a common word (3 s for one in 350k documents).
SCAN_WINDOW = 10_000
# A query longer than this is cut, not refused: any text is a valid query.
MAX_QUERY_CHARS = 500
MAX_TERMS = 32
# How much of a text artifact is searchable: its first 256 KiB, decoded as UTF-8. PostgreSQL's
# tsvector holds at most 1 MB, which a 1 MiB text of distinct words can pass.
ARTIFACT_TEXT_BYTES = 256 * 1024

# A phrase in double quotes, or a run of anything else but whitespace.
_TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# Control characters (NUL among them) are no part of any word, and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Term:
    text: str
    exclude: bool = False
    either: bool = False  # joined to the term before it by OR


def clean(text: str) -> str:
    """The query as both backends receive it: no control characters, at most MAX_QUERY_CHARS."""
    return _CONTROL.sub(" ", text)[:MAX_QUERY_CHARS].strip()


def terms(text: str) -> list[Term]:
    """Words and "quoted phrases"; `-word` excludes, `OR` between two terms means either."""
    found: list[Term] = []
    either = False
    for m in _TERM.finditer(clean(text)):
        negated, phrase, word = m.group(1), m.group(2), m.group(3)
        if word is not None and word.upper() == "OR":
            either = bool(found)
            continue
        exclude = bool(negated) or (word is not None and word.startswith("-") and len(word) > 1)
        body = phrase if phrase is not None else word.removeprefix("-") if exclude else word
        if any(c.isalnum() for c in body):  # '***' or an emoji: no word, and a phrase of none finds nothing
            found.append(Term(body, exclude=exclude, either=either and not exclude))
        either = False
        if len(found) == MAX_TERMS:
            break
    return found


def fts5_query(text: str) -> str | None:
    """The FTS5 MATCH expression for `text`, or None when it has no words to look for.

    `index-bug "lease expiry" -flaky OR slow` becomes `"index-bug" AND "lease expiry" OR "slow" NOT "flaky"`
    (FTS5 binds NOT tighter than AND, AND tighter than OR, as websearch_to_tsquery does).
    """
    found = terms(text)
    wanted = [t for t in found if not t.exclude]
    if not wanted:
        return None  # FTS5 has no "everything except": excludes alone find nothing
    parts = [_string(wanted[0].text)]
    for t in wanted[1:]:
        parts.append(("OR " if t.either else "AND ") + _string(t.text))
    query = " ".join(parts)
    excluded = [t for t in found if t.exclude]
    if excluded:
        query = f"({query})" + "".join(f" NOT {_string(t.text)}" for t in excluded)
    return query


def fts5_term(term: Term) -> str:
    """One term alone, as FTS5 reads it: how many documents hold it decides whether to rank."""
    return _string(term.text)


def _string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
