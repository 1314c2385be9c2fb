"""Memory: what an agent (or the whole project) wants to remember across sessions and crashes.

Entries are keyed strings in a scope: the project, or one agent. An entry may carry a TTL; it is
invisible from the moment it expires and the resolver deletes it later, so expiry never waits
for a sweep and needs no timer.
"""

from __future__ import annotations

from typing import Literal

from taskloom.clock import iso
from taskloom.domain.events import EventKind
from taskloom.domain.limits import MAX_PAGE, MAX_TITLE, check_text
from taskloom.domain.redact import redact
from taskloom.errors import InvalidInput, NotFound
from taskloom.models import MemoryDeleted, MemoryEntry, MemoryPage
from taskloom.services.common import Scope, event
from taskloom.store.base import Row, Tx

MemoryScope = Literal["agent", "project"]
MAX_TTL = 366 * 24 * 3600.0  # seconds


def _scope_name(scope: Scope, which: MemoryScope) -> str:
    return "project" if which == "project" else f"agent:{scope.require_agent()}"


def _check_key(key: str) -> None:
    if not key.strip():
        raise InvalidInput("The memory key is empty.", hint="Use a short path-like key, e.g. 'notes/api-design'.")
    if len(key) > MAX_TITLE:
        raise InvalidInput(f"The memory key is {len(key)} characters; the limit is {MAX_TITLE}.")


def _entry(row: Row) -> MemoryEntry:
    return MemoryEntry(
        key=row["key"],
        value=row["value"],
        scope=row["scope"],
        expires_at=iso(row["expires_at"]),
        updated_at=iso(row["updated_at"]),
        updated_by=row["updated_by"],
        version=row["version"],
    )


def set_value(
    tx: Tx, scope: Scope, key: str, value: str, which: MemoryScope, ttl_seconds: float | None
) -> MemoryEntry:
    _check_key(key)
    check_text("value", value)
    clean = redact(value)  # memory outlives sessions: a pasted token must not
    if ttl_seconds is not None and not 0 < ttl_seconds <= MAX_TTL:
        raise InvalidInput(
            f"ttl_seconds must be above 0 and at most {int(MAX_TTL)}.",
            hint="Omit ttl_seconds for a durable entry.",
        )
    row = tx.one(
        "memory_set",
        {
            "project": scope.project_id,
            "scope": _scope_name(scope, which),
            "key": key,
            "value": clean.text,
            "expires_at": None if ttl_seconds is None else scope.now + ttl_seconds,
            "now": scope.now,
            "agent": scope.agent,
        },
    )
    event(tx, scope, EventKind.MEMORY_SET, key, in_scope=row["scope"])
    return _entry(row).model_copy(update={"redacted": clean.count})


def get_value(tx: Tx, scope: Scope, key: str, which: MemoryScope) -> MemoryEntry:
    _check_key(key)
    name = _scope_name(scope, which)
    row = tx.one("memory_get", {"project": scope.project_id, "scope": name, "key": key, "now": scope.now})
    if row is None:
        raise NotFound(
            f"No memory {key!r} in scope {name} (never set, deleted, or expired).",
            hint="memory_list shows the keys in a scope.",
        )
    return _entry(row)


def list_values(
    tx: Tx, scope: Scope, prefix: str, which: MemoryScope, limit: int = 50, offset: int = 0
) -> MemoryPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.")
    rows = tx.all(
        "memory_list",
        {
            "project": scope.project_id,
            "scope": _scope_name(scope, which),
            "prefix": prefix,
            "upper": prefix_upper(prefix),
            "now": scope.now,
            "limit": limit + 1,  # one more than asked says whether another page exists
            "offset": offset,
        },
    )
    more = len(rows) > limit
    return MemoryPage(entries=[_entry(r) for r in rows[:limit]], next_offset=offset + limit if more else None)


def prefix_upper(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (code point order, which
    is SQLite's order for UTF-8 text); None when no such bound exists ('' or all U+10FFFF)."""
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return None
    nxt = ord(stem[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; the next character is U+E000
        nxt = 0xE000
    return stem[:-1] + chr(nxt)


def delete_value(tx: Tx, scope: Scope, key: str, which: MemoryScope) -> MemoryDeleted:
    _check_key(key)
    name = _scope_name(scope, which)
    gone = tx.run("memory_delete", {"project": scope.project_id, "scope": name, "key": key, "now": scope.now})
    if gone:
        event(tx, scope, EventKind.MEMORY_DELETED, key, in_scope=name)
    return MemoryDeleted(key=key, deleted=bool(gone))


def purge_expired(tx: Tx, scope: Scope) -> int:
    return tx.run("memory_purge_expired", {"project": scope.project_id, "now": scope.now})
