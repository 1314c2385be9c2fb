"""`taskloom report [--sprint S | --stream S] [-o FILE] [--save]`: a completion report as Markdown.

`report` with no subcommand is this; its subcommands (`report time`, ...) are other reports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from taskloom.config import Settings
from taskloom.errors import InvalidInput, NotFound
from taskloom.store import backends


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sprint", metavar="CODE", help="report one sprint's tasks")
    which.add_argument("--stream", metavar="CODE", help="report one stream's tasks (neither: the whole project)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the Markdown here instead of to stdout")
    p.add_argument(
        "--save", action="store_true",
        help="also store it as a text/markdown artifact linked to the sprint, the stream or the project",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from taskloom.services import completion
    from taskloom.services.app import Taskloom
    from taskloom.services.completion_md import render

    if not backends.exists(settings):
        raise NotFound(
            f"No taskloom database at {settings.db_path}.",
            hint="Check --db (or TASKLOOM_DB); `taskloom serve` or `taskloom import` creates one.",
        )
    app = await Taskloom.open(settings, create_project=False)
    try:
        report = await app.read(completion.build, args.sprint, args.stream)
        text = render(report)
        _write(text, args.output)
        if args.save:
            saved = (await completion.save(app, report, text)).artifact
            print(f"taskloom: saved {saved.name} as {saved.uri}, linked to {completion.link_of(report)}.", file=sys.stderr)
    finally:
        await app.close()
    return 0


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"Cannot write the report to {output}: {exc.strerror or exc}.",
            hint="Give -o a file in a directory that exists and you may write to, or leave -o out for stdout.",
        ) from None
    print(f"taskloom: wrote {output}.", file=sys.stderr)
