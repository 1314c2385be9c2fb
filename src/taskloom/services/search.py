"""Search over the project's tasks, notes, messages and artifacts, ranked, with snippets.

The index is kept by triggers in the write's own transaction (see the 0010 SQLite migration and
PostgreSQL's 0002), so this module only reads. Each backend gets the query in the form it
parses safely: FTS5 a quoted expression built by domain.search, PostgreSQL the cleaned text for
websearch_to_tsquery. Both are passed; each backend's SQL reads its own.
"""

from __future__ import annotations

from taskloom.clock import iso
from taskloom.domain.search import (
    DEFAULT_LIMIT,
    KIND_CODES,
    KINDS_BY_CODE,
    MAX_LIMIT,
    RANK_WINDOW,
    SCAN_WINDOW,
    TERM_WINDOW,
    clean,
    fts5_query,
    fts5_term,
    terms,
)
from taskloom.domain.statuses import TaskStatus
from taskloom.errors import InvalidInput
from taskloom.models.search import SearchHit, SearchResults
from taskloom.services.common import Scope, stream_id
from taskloom.store.base import Row, Tx

STATUSES = tuple(s.value for s in TaskStatus)


def search(
    tx: Tx,
    scope: Scope,
    query: str,
    *,
    kind: str | None = None,
    stream: str | None = None,
    status: str | None = None,
    author: str | None = None,
    limit: int = DEFAULT_LIMIT,
    person: bool = False,
) -> SearchResults:
    """The best `limit` hits for `query`; `author` keeps what that agent wrote.

    Messages are those the scope's agent may read: its inbox's rules, plus what it sent. A
    `person` (the CLI) sees what the dashboard shows a person on a task's page, its thread and
    escalations, as well; never an agent's direct, role or broadcast mail.
    """
    if kind is not None and kind not in KIND_CODES:
        raise InvalidInput(f"{kind!r} is no kind of search hit.", hint=f"Use one of: {', '.join(KIND_CODES)}.")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"{status!r} is no task status.", hint=f"Use one of: {', '.join(STATUSES)}.")
    status = None if status is None else str(status)  # a TaskStatus: psycopg would send its name
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1..{MAX_LIMIT}.", hint=f"The default is {DEFAULT_LIMIT}.")
    stream_id(tx, scope, stream)  # an unknown stream is a mistake to name, not an empty answer
    fts = fts5_query(query)
    if fts is None:
        return SearchResults(hits=[], message="The query has no words to look for (a word with a letter or digit).")
    me = scope.agent or None
    row = tx.one("agent_by_name", {"project": scope.project_id, "name": me}) if me else None
    text = clean(query)
    # Ranking costs every match (and on FTS5 every document of each word): past the windows, newest first.
    crowded = _crowded(tx, fts, text)
    filtered = any(f is not None for f in (kind, stream, status, author))
    # Unfiltered, the newest rows stream until `limit`; a filter might skip most of them.
    floor = tx.scalar("search_floor", {"fts": fts, "text": text, "window": SCAN_WINDOW}) if crowded and filtered else 0
    params = {
        "project": scope.project_id,
        "fts": fts,
        "text": text,
        "floor": floor or 0,
        "kind": None if kind is None else KIND_CODES[kind],
        "stream": stream,
        "status": status,
        "agent": author,
        "person": person,
        "me": me,
        "role": row["role"] if row else None,
        "limit": limit,
        "window": SCAN_WINDOW,  # where the floor is found while walking the newest matches (PostgreSQL)
    }
    rows = tx.all("search_newest", params) if crowded else tx.all("search_hits", params)
    message = ""
    if crowded:
        over = f"over {RANK_WINDOW:,}, or a word in over {TERM_WINDOW:,}" if tx.rank_counts_words else f"over {RANK_WINDOW:,}"
        message = (f"Too many documents match to rank them ({over}): these are the newest matches. "
                   "Rarer words or a \"phrase\" narrow it. ")
    if not person and me is None and kind in (None, "message"):
        message += "Messages were left out: no agent name was given, and messages are shown only to their readers."
    return SearchResults(hits=[_hit(r) for r in rows], message=message.strip())


def _crowded(tx: Tx, fts: str, text: str) -> bool:
    """Whether ranking would read too much: over RANK_WINDOW matches, or, where ranking counts
    every document of each word (FTS5), a word or phrase in over TERM_WINDOW documents. Each look
    walks at most that many entries of the index, in order."""
    if tx.scalar("search_at_least", {"fts": fts, "text": text, "window": RANK_WINDOW}) is not None:
        return True
    if not tx.rank_counts_words:
        return False
    wanted = [t for t in terms(text) if not t.exclude]
    return len(wanted) > 1 and any(
        tx.scalar("search_at_least", {"fts": fts5_term(t), "text": t.text, "window": TERM_WINDOW}) is not None
        for t in wanted
    )


def _hit(row: Row) -> SearchHit:
    kind = KINDS_BY_CODE[row["kind_code"]]
    if kind == "task":
        ident: int | str = row["task_code"]
    elif kind == "artifact":
        ident = row["sha256"]
    else:
        ident = row["ref"]
    title = row["title"] or f"{row['note_kind']} note on {row['task_code']}"
    return SearchHit(
        kind=kind,
        id=ident,
        title=title,
        snippet=" ".join((row["snippet"] or "").split()),  # one line: the fields are joined by newlines
        task=row["task_code"],
        status=row["task_status"],
        stream=row["stream_code"],
        agent=row["agent"],
        at=iso(row["at"]),
        score=float(row["score"]),
    )
