"""The store interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = Mapping[str, Any]
Params = Mapping[str, Any]


class Tx(Protocol):
    """One open transaction. Queries are named; the backend owns their SQL."""

    # Whether ranking a search first counts every document each word of the query is in (FTS5's
    # bm25 does), so one common word makes ranking any query with it costly. PostgreSQL's
    # ts_rank_cd reads only the matching rows. services/search.py decides its windows on this.
    rank_counts_words: bool

    def one(self, query: str, params: Params | None = None) -> Row | None: ...

    def all(self, query: str, params: Params | None = None) -> list[Row]: ...

    def each(self, query: str, params: Params | None = None) -> Iterator[Row]:
        """Rows one at a time, for results too big to hold as a list of rows; read them all before
        the next query."""
        ...

    def scalar(self, query: str, params: Params | None = None) -> Any: ...

    def run(self, query: str, params: Params | None = None) -> int:
        """Execute a write; returns the number of rows changed."""
        ...

    def many(self, query: str, rows: Iterable[Params]) -> None: ...


class Store(Protocol):
    """A database shared by many processes.

    `write` runs `fn` in one serialised write transaction (SQLite: BEGIN IMMEDIATE), so a
    read-then-write inside it can never lose a race to another process. `read` runs `fn` in a
    consistent snapshot. Either way the whole function crosses to the database in one hop.
    """

    backend: str  # "sqlite", "postgresql": what health reports
    schema_version: int

    async def write(self, fn: Callable[[Tx], T]) -> T: ...

    async def write_now(self, fn: Callable[[Tx], T]) -> T:
        """Like `write`, for a short transaction: may run on the caller's thread, no hop."""
        ...

    async def load(self, fn: Callable[[Tx], T], projects: Sequence[int]) -> T:
        """`write`, for `fn` filling the new `projects` with many rows (import, copy): the backend
        may build what it derives from rows (the search index) once after `fn`, in the same
        transaction, instead of per row. The same rows, checks and index result as `write`."""
        ...

    async def read(self, fn: Callable[[Tx], T]) -> T: ...

    async def read_now(self, fn: Callable[[Tx], T]) -> T:
        """Like `read`, for a few indexed statements: may run on the caller's thread, no hop."""
        ...

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for any process to commit a write; True if one did.

        What it reports is consumed: the next call waits for a later commit. So one caller per
        store and process, the change feed (`taskloom.changes`), which everyone else listens to.
        A commit between two calls is reported by the second at once. SQLite polls a counter;
        a server database would LISTEN for a notification.
        """
        ...

    async def close(self) -> None: ...


@dataclass
class CheckReport:
    """What `taskloom check` found. `ok` only if every check ran and found nothing."""

    file: str
    expected_schema_version: int
    size_bytes: int = 0  # the file and its WAL
    journal_mode: str | None = None
    schema_version: int | None = None
    integrity: list[str] | None = None  # PRAGMA integrity_check's rows (["ok"]); None: it could not run
    foreign_keys: list[str] | None = None  # rows pointing at nothing; None: the check could not run
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems
