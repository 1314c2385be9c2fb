"""The one place a backend is chosen, from the database the settings name.

`--db` (or TASKLOOM_DB) is a path or a URL. A path, or a `sqlite:` URL, is a SQLite file. A
`postgresql://` (or `postgres://`) URL is a PostgreSQL database, which several taskloom servers,
on several machines, can share. Any other scheme is refused here, at once, rather than becoming a
SQLite error about a strange file name (and a stray file made under that name).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
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
    `sqlite://` (in memory), or a `postgresql://` URL."""
    text = str(value)
    found = _SCHEME.match(text)
    if found is None:
        return Database("sqlite", path=Path(text))
    scheme = found.group(1).lower().partition("+")[0]
    if scheme == "sqlite":
        return Database("sqlite", path=_sqlite_path(text, text[found.end() :]))
    if scheme in POSTGRESQL_SCHEMES:
        # libpq reads postgresql:// and postgres://; a driver suffix is not libpq's, so drop it.
        return Database("postgresql", url="postgresql" + text[found.end(1) :] if "+" in found.group(1) else text)
    raise InvalidInput(
        f"{shown(text)} is a {scheme}:// URL; taskloom's database is a SQLite file or a postgresql:// URL.",
        hint="Pass a file path (or sqlite:///PATH), or postgresql://USER@HOST/DB, with --db or TASKLOOM_DB.",
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


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")


def shown(url: str) -> str:
    """The URL as it may appear in a message or log: never its password."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed netloc (a bad port): show the scheme only
        return url.partition("://")[0] + "://..."
    if password:
        url = url.replace(f":{password}@", ":***@", 1)
    # libpq also reads the password from the query string: ?password=...
    return _QUERY_PASSWORD.sub(r"\1***", url)


def same_server_database(a: str, b: str) -> bool:
    """Whether two postgresql:// URLs name one database: the same host, port and database name,
    however else they are spelled (a password, options, the host in the query string)."""

    def key(url: str) -> tuple[str, int, str]:
        parts = urlsplit(url)
        query = dict(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
        host = (query.get("host") or parts.hostname or "localhost").lower()
        port = int(query.get("port") or parts.port or 5432)
        name = query.get("dbname") or parts.path.lstrip("/") or parts.username or ""
        return host, port, name

    try:
        return key(a) == key(b)
    except ValueError:  # a malformed port: connecting will say so
        return False


def database(settings: Settings) -> Database:
    """The database the settings name: `db_url` when set, else the SQLite file `db_path`."""
    if settings.db_url:
        return locate(settings.db_url)
    return Database("sqlite", path=settings.db_path)


def label(settings: Settings) -> str:
    """The database as messages name it: the SQLite file, or the URL without its password."""
    return shown(settings.db_url) if settings.db_url else str(settings.db_path)


def given(settings: Settings) -> str:
    """The database as a child process is told it (`--db`): the URL, or the file's absolute path."""
    return settings.db_url if settings.db_url else str(settings.db_path.resolve())


def exists(settings: Settings) -> bool:
    """Whether a read-only command has a database to read. A server database is assumed to be
    there: connecting says otherwise, with the server's own words."""
    return settings.db_url is not None or settings.db_path.exists()


async def open_store(settings: Settings) -> Store:
    """Open (creating and migrating if needed) the settings' database. A SQLite file is
    quick-checked before anything uses it; a PostgreSQL server that is still starting is waited for."""
    found = database(settings)
    if found.url is not None:
        return await _postgres().PgStore.open(found.url, patience=settings.db_patience)
    from taskloom.store.sqlite import SqliteStore  # a backend's driver loads when it is chosen

    assert found.path is not None
    return await SqliteStore.open(found.path, busy_timeout_ms=settings.busy_timeout_ms)


def _postgres(module: str = "store") -> Any:
    """A module of the PostgreSQL backend; a clear error if its driver is not installed."""
    try:
        found = importlib.import_module(f"taskloom.store.postgres.{module}")
    except ImportError as exc:
        if exc.name not in ("psycopg", "psycopg_pool"):
            raise
        raise InvalidInput(
            "taskloom was installed without its PostgreSQL driver.",
            hint="Install it with: pip install 'taskloom[pg]' (psycopg 3 and its pool), then retry.",
        ) from None
    return found


def open_blobs(settings: Settings, clock: Clock | None = None) -> Blobs:
    """Where the settings' database keeps artifact bytes: files beside a SQLite file, or the
    PostgreSQL database itself, so every replica reaches them. Blocking (PostgreSQL connects):
    call it off the event loop."""
    found = database(settings)
    if found.backend == "postgresql":
        assert found.url is not None
        return _postgres("blobs").PgBlobs.open(found.url, clock)
    assert found.path is not None
    return BlobStore.beside(found.path)


def examine(settings: Settings) -> CheckReport:
    """`taskloom check`: the backend's full integrity checks, changing nothing."""
    found = database(settings)
    if found.url is not None:
        return _postgres("health").examine(found.url)
    from taskloom.store.sqlite import health

    assert found.path is not None
    return health.examine(found.path)
