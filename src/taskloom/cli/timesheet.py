"""`taskloom report time`: where the time went, as TSV (seed 002's columns), CSV or JSON.

TSV and CSV have one row per span, a task's stay in one status, in the order the spans ended:
`timestamp` is when the span ended, or for an open span (the task still in that status) the
report's end; `end_time` is empty for an open span, whose `duration` counts up to that end.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from taskloom.config import Settings
from taskloom.errors import InvalidInput, NotFound
from taskloom.store import backends

if TYPE_CHECKING:
    from taskloom.models.timesheet import Timesheet

COLUMNS = ("timestamp", "mode", "task_id", "start_time", "end_time", "duration", "status")
FORMATS = ("tsv", "csv", "json")


def add_parser(report_sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = report_sub.add_parser(
        "time", help="time in each status per task, and each agent's busy and idle time (TSV, CSV or JSON)",
        description="Where the time went, from the event log. TSV and CSV: one row per span (a task's stay "
        "in one status) with the columns timestamp, mode (the task's role), task_id, start_time, end_time, "
        "duration (seconds) and status; an open span has no end_time. JSON adds per-task totals, attempts, "
        "holders, cost and turns, and per-agent busy, blocked and idle time. `ready` is waiting for a claim.",
    )
    common(p)
    p.add_argument("--sprint", help="only this sprint's tasks")
    p.add_argument("--stream", help="only this stream's tasks")
    p.add_argument("--since", type=moment, metavar="ISO", help="start of the window, e.g. 2026-12-01 or "
                   "2026-12-01T09:00:00Z (UTC unless it names an offset; default: the first event)")
    p.add_argument("--until", type=moment, metavar="ISO", help="end of the window (default: now)")
    p.add_argument("--format", choices=FORMATS, default="tsv", help="default tsv")
    p.add_argument("--output", "-o", type=Path, metavar="FILE", help="file to write (default: stdout)")


def moment(value: str) -> float:
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 time; write e.g. 2026-12-03 or 2026-12-03T19:04:05Z"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from taskloom.services import timesheet
    from taskloom.services.app import Taskloom

    if not backends.exists(settings):
        raise NotFound(f"No taskloom database at {settings.db_path}.",
                       hint="Check --db (or TASKLOOM_DB); `taskloom serve` or `taskloom import` creates one.")
    app = await Taskloom.open(settings, create_project=False)
    try:
        sheet = await app.read(
            timesheet.timesheet, sprint=args.sprint, stream=args.stream, since=args.since, until=args.until,
            away_after=settings.offline_seconds,
        )
    finally:
        await app.close()
    text = render(sheet, args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput(f"Cannot write {args.output}: {exc.strerror or exc}.",
                           hint="Check that its folder exists and that you may write there.") from None
    print(f"taskloom: wrote {len(sheet.spans)} spans of {len(sheet.tasks)} tasks to {args.output}", file=sys.stderr)
    return 0


def render(sheet: Timesheet, fmt: str) -> str:
    if fmt == "json":
        return sheet.model_dump_json(indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([_inert(f) for f in row] for row in rows(sheet))
        return out.getvalue()
    return "".join("\t".join(_flat(f) for f in row) + "\n" for row in [COLUMNS, *rows(sheet)])


def rows(sheet: Timesheet) -> Iterator[tuple[str, ...]]:
    for s in sheet.spans:
        end = sheet.until if s.end is None else s.end
        yield (_second(end), s.role or "", s.task, _second(s.start), "" if s.end is None else _second(s.end),
               _duration(s.seconds), s.status)


def _second(stamp: str) -> str:
    """'2026-12-03T19:04:05.123Z' -> '2026-12-03T19:04:05Z': the seed's format, to the second."""
    return stamp[:19] + "Z"


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


_BREAKS = re.compile(r"[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _flat(field: str) -> str:
    # TSV has no quoting: a tab or line break inside a field would shift or split the row.
    return _BREAKS.sub(" ", field)


def _inert(field: str) -> str:
    # A spreadsheet runs a cell that starts like a formula; roles and codes are people's text.
    return "'" + field if field[:1] in ("=", "+", "-", "@") else field
