"""The one gate every stored text passes: free text is masked, a name holding a secret is refused.

Services mask what agents write and report how many secrets they masked, but a path that forgets
(a new tool, an import, a CLI command) would store a pasted key in plain text. So a write
transaction hands each named query's parameters through here first. Which parameters to clean
is read off the query's SQL once, at load: the column each parameter is written to decides.

Free text (titles, descriptions, bodies, reasons) is masked: it is prose people read, never a
key anything is looked up by. A name (codes, keys, labels, slugs, agent names) is refused
instead: masking would change what it names, so a lookup by the name given would miss, and two
names would collapse into one. A name never needs to hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

from taskloom.domain.redact import Masked, redact, redacted_only
from taskloom.errors import InvalidInput
from taskloom.store.base import Params, Row, Tx

# Every TEXT column of the schema is in exactly one of these three (tests/store/test_guard.py).
FREE_TEXT = frozenset(
    {
        "sprints.title", "sprints.goal",
        "streams.name", "streams.description",  # a stream's name is its display title; code names it
        "tasks.title", "tasks.description", "tasks.acceptance", "tasks.context", "tasks.summary", "tasks.reason",
        "notes.body",
        "events.subject",  # a log line's subject (task code, memory key, uri): shown, never a key to write by
        "memory.value",
        "roles.name", "roles.definition", "roles.when_to_use", "roles.instructions",
        "messages.subject", "messages.body",
        "escalations.reason",
        "artifacts.name", "artifacts.description",  # a display name, matched by substring; the sha names it
        "artifact_texts.body",  # what search finds of a text artifact: masked as prose, the bytes stay as given
        "runs.argv", "runs.reason",  # an agent's command line carries its prompt
        "file_reservations.reason",
    }
)  # fmt: skip
NAMES = frozenset(
    {
        "projects.name", "sprints.code", "streams.code", "tasks.code", "tasks.key", "tasks.role",
        "tasks.created_by", "tasks.claimed_by", "task_labels.label", "notes.agent", "events.agent",
        "memory.scope", "memory.key", "memory.updated_by", "agents.name", "agents.role",
        "agents.capabilities", "roles.slug", "messages.sender", "messages.recipient", "thread_readers.agent",
        "message_receipts.agent", "artifacts.uploaded_by", "artifact_links.linked_by",
        "claim_waiters.agent", "claim_waiters.role", "claim_waiters.labels",
        "runs.runner", "runs.agent", "runs.preset", "runs.host", "runs.log_path",
        "file_reservations.agent", "file_reservations.glob",  # a glob is what files_release looks up
    }
)  # fmt: skip
# Values taskloom makes itself or checks against a fixed set; events.payload is JSON whose texts
# services.common.event masks before encoding.
SYSTEM = frozenset(
    {
        "sprints.status", "streams.status", "tasks.status", "notes.kind", "events.kind", "events.payload",
        "messages.kind", "escalations.trigger", "artifacts.sha256", "artifacts.media_type", "artifact_links.kind",
        "runs.outcome",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Fields:
    """For one query: parameter -> the column it is written to, by how it is cleaned."""

    free: Mapping[str, str]
    names: Mapping[str, str]


def plan(queries: Mapping[str, str]) -> dict[str, Fields]:
    """The parameters to clean for every write query that binds a free-text column or a name."""
    out: dict[str, Fields] = {}
    for name, sql in queries.items():
        free: dict[str, str] = {}
        names: dict[str, str] = {}
        for column, params in bindings(sql):
            target = free if column in FREE_TEXT else names if column in NAMES else None
            if target is not None:
                target.update((p, column) for p in params)
        if free or names:
            out[name] = Fields(free, names)
    return out


_HEAD = re.compile(r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE)\s+(\w+)", re.IGNORECASE)
_PARAM = re.compile(r"(?<!:):(\w+)")


def bindings(sql: str) -> list[tuple[str, list[str]]]:
    """Each column `sql` writes ('table.column') with the parameters its value is made from.

    Our writes have three shapes: INSERT (cols) VALUES (...) or SELECT ..., and UPDATE ... SET,
    and an upsert's DO UPDATE SET. A write this cannot read raises, so a new shape fails at load.
    """
    head = _HEAD.match(sql)
    if head is None:
        return []
    table = head.group(1)
    out: list[tuple[str, list[str]]] = []
    rest = sql[head.end() :]
    if sql.lstrip()[:6].upper() == "INSERT":
        cols, rest = _group(rest)
        source = re.match(r"\s*(VALUES|SELECT)\b", rest, re.IGNORECASE)
        if source is None:
            raise ValueError(f"cannot read the values of: {sql[:60]}")
        if source.group(1).upper() == "VALUES":
            values, rest = _group(rest[source.end() :])
        else:
            values = _until(rest[source.end() :], ("FROM",))
        exprs = _split(values)
        names = _split(cols)
        if len(exprs) != len(names):
            raise ValueError(f"{len(names)} columns but {len(exprs)} values in: {sql[:60]}")
        out += [(f"{table}.{c.strip()}", _PARAM.findall(e)) for c, e in zip(names, exprs, strict=True)]
        upsert = re.search(r"\bDO\s+UPDATE\s+SET\b", rest, re.IGNORECASE)
        if upsert is None:
            return out
        rest = rest[upsert.end() :]
    else:
        rest = rest[re.match(r"\s*SET\b", rest, re.IGNORECASE).end() :]
    for assignment in _split(_until(rest, ("WHERE", "RETURNING"))):
        column, _, expr = assignment.partition("=")
        out.append((f"{table}.{column.strip()}", _PARAM.findall(expr)))
    return out


def _group(text: str) -> tuple[str, str]:
    """The first parenthesised group in `text` (without its parentheses), and what follows it."""
    start = text.index("(")
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i], text[i + 1 :]
    raise ValueError(f"unbalanced parentheses in: {text[:60]}")


def _top_level(text: str) -> Iterable[tuple[int, str]]:
    """(index, character) outside parentheses and quotes."""
    depth, quote = 0, False
    for i, ch in enumerate(text):
        if ch == "'":
            quote = not quote
        elif not quote:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                yield i, ch


def _split(text: str) -> list[str]:
    cuts = [i for i, ch in _top_level(text) if ch == ","]
    return [text[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]


def _until(text: str, words: tuple[str, ...]) -> str:
    stop = re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)
    top = {i for i, _ in _top_level(text)}
    for m in stop.finditer(text):
        if m.start() in top:
            return text[: m.start()]
    return text


class Guarded:
    """A write transaction whose queries store no secret: see the module's docstring.

    `redacted` counts the secrets masked here, beyond what the services masked themselves.
    """

    def __init__(self, tx: Tx, fields: Mapping[str, Fields]) -> None:
        self._tx = tx
        self._fields = fields
        self.redacted = 0
        self._names_seen: set[str] = set()  # an agent's name comes by several times per transaction

    @property
    def rank_counts_words(self) -> bool:
        return self._tx.rank_counts_words

    def _clean(self, query: str, params: Params | None) -> Params | None:
        fields = self._fields.get(query)
        if fields is None or not params:
            return params
        clean = dict(params)
        for param, column in fields.free.items():
            if isinstance(clean.get(param), str):  # a Masked text (the services' own pass) costs nothing here
                masked = redact(clean[param])
                clean[param] = masked.text
                self.redacted += masked.count
        for param, column in fields.names.items():
            value = clean.get(param)
            if not isinstance(value, str) or value in self._names_seen:
                continue
            if redact(value).count:
                raise _secret_in_name(column)
            self._names_seen.add(value)
        return clean

    def one(self, query: str, params: Params | None = None) -> Row | None:
        return self._tx.one(query, self._clean(query, params))

    def all(self, query: str, params: Params | None = None) -> list[Row]:
        return self._tx.all(query, self._clean(query, params))

    def each(self, query: str, params: Params | None = None) -> Iterator[Row]:
        return self._tx.each(query, self._clean(query, params))

    def scalar(self, query: str, params: Params | None = None) -> Any:
        return self._tx.scalar(query, self._clean(query, params))

    def run(self, query: str, params: Params | None = None) -> int:
        return self._tx.run(query, self._clean(query, params))

    def many(self, query: str, rows: Iterable[Params]) -> None:
        self._tx.many(query, self._clean_many(query, list(rows)))

    def _clean_many(self, query: str, rows: list[Params]) -> list[Params]:
        """`_clean` of every row, each column pre-checked in one pass (a plan's 10k titles)."""
        fields = self._fields.get(query)
        if fields is None or not rows:
            return rows
        clean = list(rows)
        for param in fields.free:
            column = list(map(methodcaller("get", param), clean))
            if _PASSED.issuperset(map(type, column)):  # all masked by the services already (a plan's texts)
                continue
            at = [i for i, v in enumerate(column) if isinstance(v, str) and not isinstance(v, Masked)]
            for k, masked in redacted_only([column[i] for i in at]).items():
                i = at[k]
                clean[i] = {**clean[i], param: masked.text}
                self.redacted += masked.count
        for param, column in fields.names.items():
            values = set(map(methodcaller("get", param), clean))
            fresh = [v for v in values if isinstance(v, str) and v not in self._names_seen]
            if redacted_only(fresh):
                raise _secret_in_name(column)
            self._names_seen.update(fresh)
        return clean


# A column whose values are all of these needs no pass: Masked text has been through `redact`.
_PASSED = frozenset({Masked, type(None)})


def _secret_in_name(column: str) -> InvalidInput:
    return InvalidInput(
        f"The {_label(column)} looks like it holds a secret (a key, token or password).",
        hint="Names are stored as given and shown to every agent, so secrets are refused there: "
        "pick another name. Free text (descriptions, notes, bodies) is masked instead.",
        details={"field": column},
    )


def _label(column: str) -> str:
    """'tasks.key' -> 'task key', 'task_labels.label' -> 'task label'."""
    table, _, field = column.partition(".")
    noun = table.removesuffix("s").replace("_", " ")
    return noun if noun.endswith(field) else f"{noun} {field.replace('_', ' ')}"
