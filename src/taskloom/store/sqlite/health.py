"""When the database file itself is at fault: naming the fault, and checking the file.

A damaged, foreign or unreadable file is not a taskloom bug, and saying `internal` sent people
hunting in the wrong place. Every such SQLite error becomes one `Storage` error that names the
file, the cause and what to do; `examine` is `taskloom check`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskloom.errors import NotFound, Storage
from taskloom.store.base import CheckReport
from taskloom.store.sqlite import migrate

# SQLite's primary result codes (https://sqlite.org/rescode.html) that blame the file, not the query.
DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
UNUSABLE = {
    sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY,
}


def is_storage_fault(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in DAMAGED | UNUSABLE


def check_hint(path: Path | str) -> str:
    return f"Run `taskloom check --db {path}` to see what is wrong, then restore the file from a backup."


def storage_error(exc: sqlite3.Error, path: Path | str) -> Storage:
    """The one sentence for a file-level SQLite fault (the caller has checked `is_storage_fault`)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    cause = str(exc)
    if code == sqlite3.SQLITE_NOTADB:
        return Storage(
            f"{path} is not a SQLite database ({cause}).",
            hint="Check that --db (or TASKLOOM_DB) names a taskloom database; if it does, the file is damaged: "
            "restore it from a backup.",
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return Storage(f"The database file {path} is damaged ({cause}).", hint=check_hint(path))
    if code == sqlite3.SQLITE_FULL:
        return Storage(f"Cannot write the database file {path}: the disk is full.", hint="Free disk space and retry.")
    return Storage(
        f"Cannot use the database file {path}: {cause}.",
        hint="Check that the file and its folder exist and are readable and writable by you, and that the disk "
        f"is healthy; `taskloom check --db {path}` tells more.",
    )


def usable_path(path: Path) -> None:
    """Refuse, before SQLite does it with a bare "unable to open", a path that cannot be a database file."""
    if path.is_dir():
        raise Storage(
            f"{path} is a directory, not a database file.",
            hint=f"Point --db (or TASKLOOM_DB) at a file inside it, e.g. {path / 'taskloom.db'}.",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Storage(
            f"Cannot create the folder of the database file {path}: {exc.strerror or exc}.",
            hint="Point --db (or TASKLOOM_DB) at a path in a folder you can write.",
        ) from None


def quick_check(conn: sqlite3.Connection, path: Path | str) -> None:
    """`PRAGMA quick_check`: every page readable and well formed (not index contents). ~0.25 s at 100k tasks."""
    problems = _pragma_rows(conn, "PRAGMA quick_check")
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise Storage(f"The database file {path} failed its quick check: {shown}.", hint=check_hint(path))


def schema_guard(conn: sqlite3.Connection, path: Path | str) -> None:
    """Migrate only taskloom databases of this version or older: never add our tables to someone
    else's database, nor stamp a newer taskloom's schema with our older version number."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    latest = migrate.latest_version()
    if version > latest:
        raise Storage(
            f"{path} has schema version {version}; this taskloom knows versions up to {latest}.",
            hint="Upgrade taskloom to the version that wrote the file, or point --db at another file.",
        )
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise Storage(
            f"{path} is a SQLite database, but not a taskloom one (it has tables and no taskloom schema version).",
            hint="Point --db (or TASKLOOM_DB) at a taskloom database; a path where no file exists yet makes a new one.",
        )


def _pragma_rows(conn: sqlite3.Connection, pragma: str) -> list[str]:
    """One problem per item, each on one line: SQLite can put several in one row, after a
    "*** in database main ***" header line that says nothing here."""
    out = []
    for row in conn.execute(pragma).fetchall():
        for line in " ".join(str(v) for v in tuple(row)).splitlines():
            if line.strip() and not line.startswith("*** in database"):
                out.append(line.strip())
    return out


def examine(path: Path) -> CheckReport:
    """Run the full checks on `path` without changing it (no migration, no journal-mode switch)."""
    if path.is_dir() or not path.exists():
        raise NotFound(
            f"No database file at {path}{' (it is a directory)' if path.is_dir() else ''}.",
            hint="Pass the file with --db (or TASKLOOM_DB); the default is .taskloom/taskloom.db here.",
        )
    wal = Path(f"{path}-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    report = CheckReport(file=str(path), expected_schema_version=migrate.latest_version(), size_bytes=size)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
    except sqlite3.Error as exc:
        report.problems.append(f"cannot open: {exc}")
        return report
    try:
        _run_checks(conn, report)
    finally:
        conn.close()
    return report


def _run_checks(conn: sqlite3.Connection, report: CheckReport) -> None:
    steps = [
        ("journal mode", lambda: setattr(report, "journal_mode", conn.execute("PRAGMA journal_mode").fetchone()[0])),
        ("schema version", lambda: setattr(report, "schema_version", conn.execute("PRAGMA user_version").fetchone()[0])),
        ("integrity check", lambda: setattr(report, "integrity", _pragma_rows(conn, "PRAGMA integrity_check"))),
        ("foreign key check", lambda: setattr(report, "foreign_keys", _foreign_keys(conn))),
    ]
    for name, step in steps:
        try:
            step()
        except sqlite3.Error as exc:
            if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_NOTADB:
                # Every step would fail the same way: say it once.
                report.problems.append(f"not a SQLite database ({exc})")
                return
            report.problems.append(f"the {name} could not run: {exc}")
    if report.integrity and report.integrity != ["ok"]:
        report.problems.append(f"integrity check: {len(report.integrity)} problem(s)")
    if report.foreign_keys:
        report.problems.append(f"foreign key check: {len(report.foreign_keys)} row(s) point at nothing")
    version, latest = report.schema_version, report.expected_schema_version
    if version is not None and version > latest:
        report.problems.append(f"schema version {version} is newer than this taskloom's {latest}")


def _foreign_keys(conn: sqlite3.Connection) -> list[str]:
    return [
        f"{row[0]} row {row[1]} points at a missing {row[2]} row"
        for row in conn.execute("PRAGMA foreign_key_check").fetchall()
    ]
