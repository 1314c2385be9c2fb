"""`taskloom export`, `taskloom import FILE.tar[.gz]` and `taskloom backup`: a project into a file
and back, on either backend, and a live SQLite database copied whole."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from taskloom.config import Settings
from taskloom.errors import InvalidInput, Unsupported
from taskloom.store import backends

# Imported where used: the parser of every command is built for `taskloom serve` too, and a
# server process need not carry the archive code (tarfile, gzip) (issue 17: idle memory).
if TYPE_CHECKING:
    from taskloom.models.archive import ArchiveReport


def add_parsers(sub: argparse._SubParsersAction, db_help: str) -> None:
    exp = sub.add_parser(
        "export", help="write projects (every row, with ids, and the artifact bytes) to a versioned archive file: "
        "a tar, gzipped if FILE ends in .gz or .tgz; `taskloom import FILE` loads it into an empty database",
    )
    exp.add_argument("--db", help=db_help)
    exp.add_argument("--project", help="export only this project (default: every project in the database)")
    exp.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive to write ('-': stdout)")
    exp.add_argument("--force", action="store_true", help="replace FILE if it exists")
    exp.add_argument("--json", action="store_true", help="machine-readable output")

    back = sub.add_parser(
        "backup", help="copy a live SQLite database and its artifact files, consistently, while servers write "
        "to it; the copy is checked before it is put at FILE (on PostgreSQL: use pg_dump or taskloom export)",
    )
    back.add_argument("--db", help=db_help)
    back.add_argument("file", type=Path, metavar="FILE", help="the backup database file to write")
    back.add_argument("--force", action="store_true", help="replace FILE if it exists")
    back.add_argument("--json", action="store_true", help="machine-readable output")


async def run_export(settings: Settings, args: argparse.Namespace) -> int:
    target = None if args.output == "-" else Path(args.output)
    if target is None and sys.stdout.isatty():
        raise InvalidInput("-o - writes the archive to stdout, which is a terminal here.",
                           hint="Redirect it (-o - > project.tar), or give -o a file name.")
    from taskloom.services import archive

    report = await archive.export(settings, args.project, target, out=sys.stdout.buffer if target is None else None,
                                  force=args.force)
    text = report.model_dump_json(indent=2) if args.json else render_export(report)
    print(text, file=sys.stderr if target is None else sys.stdout)
    return 0


def render_export(report: ArchiveReport) -> str:
    rows = sum(report.tables.values())
    return "\n".join([
        f"Exported {', '.join(report.projects)} from {report.database} to {report.archive}",
        (f"  {rows} rows in {len(report.tables)} tables ({report.tables.get('tasks', 0)} tasks, "
         f"{report.tables.get('events', 0)} events); {report.blobs} blobs, {report.blob_bytes} bytes"),
        f"  archive: {report.archive_bytes} bytes, sha256 {report.sha256}",
        f"Load it with: taskloom import --db NEW_DATABASE {report.archive}",
    ])


async def run_import(settings: Settings, args: argparse.Namespace) -> int:
    if args.project is not None:
        raise InvalidInput(f"{args.file} is an archive, and an archive import loads every project it holds; "
                           "--project does not apply.",
                           hint="Leave --project out; to move one project, `taskloom export --project P` it first.")
    from taskloom.cli.copy import render as render_copy
    from taskloom.services import importing

    report = await importing.import_archive(settings, args.file)
    text = render_copy(report, verb="Imported", column="imported")
    print(text)
    if not report.verified:
        print("taskloom: the database differs from the archive (see above); do not use it.", file=sys.stderr)
    return 0 if report.verified else 1


async def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    found = backends.database(settings)
    if found.url is not None:
        raise Unsupported(
            f"taskloom backup copies a SQLite file; {without_password(found.url)} is a PostgreSQL database. "
            "Nothing was written.",
            hint=f"Use PostgreSQL's own tool: pg_dump --format=custom --file={args.file} '{without_password(found.url)}' "
            "(the password from PGPASSWORD or ~/.pgpass), or `taskloom export -o FILE`, which works on both backends.",
        )
    from taskloom.store.sqlite import backup

    assert found.path is not None
    report = await anyio.to_thread.run_sync(backup.backup, found.path, args.file, args.force)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        print(f"Backed up {report.database} to {report.backup}: {report.bytes} bytes ({report.pages} pages), "
              f"{report.blobs} artifact files ({report.blob_bytes} bytes); integrity check: {report.integrity}")
    return 0


def without_password(url: str) -> str:
    """The URL for a command line people copy: no password, in the user part or the query."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit(parts._replace(netloc=f"{user}{host}", query=query))


def is_archive(path: Path) -> bool:
    from taskloom.services import archive

    return archive.is_archive(path)
