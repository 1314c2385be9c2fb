"""The one place a backend is chosen, from the database the settings name.

`--db` (or TASKLOOM_DB) is a path or a URL. A path, or a `sqlite:` URL, is a SQLite file. A
`postgresql://` URL names a server database; that backend is not built yet, and saying so at
once beats a SQLite error about a strange file name (and a stray file made under that name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from taskloom.clock import Clock
from taskloom.config import Settings
from taskloom.errors import InvalidInput
from taskloom.store.base import CheckReport, Store
from taskloom.store.blobs import Blobs, BlobStore

Backend = Literal["sqlite", "postgresql"]
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A driver suffix (`postgresql+psycopg://`) is SQLAlchemy's spelling, which people paste.
POSTGRESQL_SCHEMES = {"postgresql", "postgres"}


@dataclass(frozen=True)
class Database:
    """Where the data lives: a SQLite file (`path`), or a server database (`url`)."""

    backend: Backend
    path: Path | None = None
    url: str | None = None


def locate(value: str | Path) -> Database:
    """A `--db` value as given: a path, `sqlite:///relative.db`, `sqlite:////absolute.db`,
    `sqlite://` (in memory), or a `postgresql://` URL (refused until that backend exists)."""
    text = str(value)
    found = _SCHEME.match(text)
    if found is None:
        return Database("sqlite", path=Path(text))
    scheme = found.group(1).lower().partition("+")[0]
    if scheme == "sqlite":
        return Database("sqlite", path=_sqlite_path(text, text[found.end() :]))
    if scheme in POSTGRESQL_SCHEMES:
        raise InvalidInput(
            f"PostgreSQL support is not built yet, so taskloom cannot use {shown(text)}.",
            hint="Use a SQLite file for now: --db PATH (or TASKLOOM_DB=PATH), e.g. .taskloom/taskloom.db.",
        )
    raise InvalidInput(
        f"{shown(text)} is a {scheme}:// URL; taskloom's database is a SQLite file.",
        hint="Pass a file path (or sqlite:///PATH) with --db or TASKLOOM_DB.",
    )


def _sqlite_path(text: str, rest: str) -> Path:
    # SQLAlchemy's form, the one people know: sqlite:/// + the path, so four slashes start an
    # absolute path, and nothing after the slashes means in memory.
    if rest in ("", "/"):
        return Path(":memory:")
    if not rest.startswith("/"):
        raise InvalidInput(
            f"{shown(text)} names a host; a SQLite URL names a file: sqlite:///relative.db or sqlite:////abs/path.db.",
            hint="Or pass the file's path itself with --db.",
        )
    return Path(rest[1:])


def shown(url: str) -> str:
    """The URL as it may appear in a message or log: never its password."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed netloc (a bad port): show the scheme only
        return url.partition("://")[0] + "://..."
    if not password:
        return url
    return url.replace(f":{password}@", ":***@", 1)


def database(settings: Settings) -> Database:
    """The database the settings name: `db_url` when set, else the SQLite file `db_path`."""
    if settings.db_url:
        return locate(settings.db_url)
    return Database("sqlite", path=settings.db_path)


async def open_store(settings: Settings) -> Store:
    """Open (creating and migrating if needed) the settings' database. A SQLite file is
    quick-checked before anything uses it."""
    from taskloom.store.sqlite import SqliteStore  # a backend's driver loads when it is chosen

    found = database(settings)
    assert found.path is not None  # locate refuses every other backend for now: the dispatch goes here
    return await SqliteStore.open(found.path, busy_timeout_ms=settings.busy_timeout_ms)


def open_blobs(settings: Settings, clock: Clock | None = None) -> Blobs:
    """Where the settings' database keeps artifact bytes: files beside a SQLite file, or the
    PostgreSQL database itself, so every replica reaches them. Blocking (PostgreSQL connects):
    call it off the event loop."""
    found = database(settings)
    if found.backend == "postgresql":
        from taskloom.store.postgres.blobs import PgBlobs

        assert found.url is not None
        return PgBlobs.open(found.url, clock)
    assert found.path is not None
    return BlobStore.beside(found.path)


def examine(settings: Settings) -> CheckReport:
    """`taskloom check`: the backend's full integrity checks, changing nothing."""
    from taskloom.store.sqlite import health

    found = database(settings)
    assert found.path is not None
    return health.examine(found.path)
