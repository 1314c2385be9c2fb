"""`taskloom copy --from SRC --to DST`: move projects between databases, and prove it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from taskloom.config import DB_PATIENCE, DEFAULT_DB, Settings, resolve_db_patience
from taskloom.store import backends

if TYPE_CHECKING:
    from taskloom.models.copying import CopyReport

WHERE = "a SQLite file, sqlite:///PATH or postgresql://USER@HOST/DB"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "copy",
        help="copy projects (rows, ids and artifact bytes) into an empty database, e.g. SQLite to PostgreSQL, "
        "then verify the copy (exit 1 if it differs)",
    )
    p.add_argument("--from", dest="source", required=True, metavar="SRC", help=f"the database to copy from: {WHERE}")
    p.add_argument("--to", dest="target", required=True, metavar="DST",
                   help=f"the database to copy into, which must hold no project yet: {WHERE}")
    p.add_argument("--project", help="copy only this project (default: every project in SRC)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _settings(value: str) -> Settings:
    db = backends.locate(value)
    patience = resolve_db_patience() if db.url else DB_PATIENCE
    return Settings(db_path=db.path or DEFAULT_DB, db_url=db.url, db_patience=patience)


async def run(args: argparse.Namespace) -> int:
    from taskloom.services import copying  # the copy code, for this command only

    report = await copying.copy(_settings(args.source), _settings(args.target), args.project)
    print(report.model_dump_json(indent=2) if args.json else render(report))
    if not report.verified:
        print("taskloom: the copy differs from the source (see above); do not use it.", file=sys.stderr)
    return 0 if report.verified else 1


def render(report: CopyReport, verb: str = "Copied", column: str = "copied") -> str:
    width = max(len(t.table) for t in report.tables)
    lines = [
        f"{verb} {', '.join(report.projects)} from {report.source} to {report.destination}",
        f"  {'table':<{width}}  {'source':>8}  {column:>8}",
    ]
    for t in report.tables:
        mark = "" if t.source == t.destination else "  DIFFERS"
        lines.append(f"  {t.table:<{width}}  {t.source:>8}  {t.destination:>8}{mark}")
    lines.append(f"  artifact bytes: {report.blobs} blobs, {report.blob_bytes} bytes, each read back and hashed")
    for sha in report.bad_blobs:
        lines.append(f"  missing or damaged in the destination: {sha}")
    lines.append("Verified: every row and every artifact's bytes are in the destination."
                 if report.verified else "NOT verified: the destination differs from the source.")
    return "\n".join(lines)
