"""`taskloom watch`: the project as a live terminal board, redrawn when something changes.

The board is read in one transaction and drawn with rich (cli/watch_board.py, imported only by
this command). It is redrawn when the change feed reports a commit (from any process), a burst
settling for DEBOUNCE seconds first, and every TICK seconds when nothing changes, so ages move;
never on a fast poll.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from taskloom.domain.limits import MAX_PAGE
from taskloom.errors import InvalidInput

if TYPE_CHECKING:
    from rich.live import Live

DEBOUNCE = 0.25  # seconds a burst of changes may settle before the one redraw it causes
TICK = 30.0  # seconds between redraws with nothing changed: ages and lease countdowns still move
ACTIVITY = 20  # events in the activity tail


# ---------------------------------------------------------------- the command


def add_parser(sub: argparse._SubParsersAction, common: Any) -> None:
    watch = sub.add_parser("watch", help="a live board of the project in the terminal; one snapshot over a pipe")
    common(watch)
    watch.add_argument("--once", action="store_true", help="print one snapshot and exit (also when not on a terminal)")
    watch.add_argument("--activity", type=int, default=ACTIVITY, metavar="N",
                       help=f"events in the activity tail, 1..{MAX_PAGE} (default {ACTIVITY})")
    watch.add_argument("--tick", type=float, default=TICK, metavar="SECONDS",
                       help=f"redraw this often when nothing changes, so ages move (default {TICK:g})")


def check_args(args: argparse.Namespace) -> None:
    if not 1 <= args.activity <= MAX_PAGE:
        raise InvalidInput(f"--activity {args.activity} is not 1..{MAX_PAGE}.", hint="Give the number of events to show.")
    if not (math.isfinite(args.tick) and args.tick > 0):
        raise InvalidInput(f"--tick {args.tick} is not a positive number of seconds.", hint=f"Try the default, {TICK:g}.")


async def run(app: Any, args: argparse.Namespace) -> int:
    from rich.console import Console

    from taskloom.cli.watch_board import render, watch_data

    read = partial(watch_data, activity_limit=args.activity, online_seconds=app.settings.online_seconds,
                   offline_seconds=app.settings.offline_seconds)
    if args.once or not sys.stdout.isatty():
        Console().print(render(await app.read(read)))
        return 0
    await _live(app, read, max(args.tick, DEBOUNCE))
    return 0


async def _live(app: Any, read: Any, tick: float) -> None:
    from rich.console import Console
    from rich.live import Live

    from taskloom.changes import ChangeFeed
    from taskloom.cli.watch_board import render

    feed = ChangeFeed(app)
    async with anyio.create_task_group() as tg:
        # The feed's own loop, so the patient listener makes it look once a second; without it
        # the listener would poll the store at the eager rate.
        tg.start_soon(feed.run)
        listener = await feed.attach(patient=True)
        try:
            with Live(console=Console(), auto_refresh=False, screen=True, transient=False) as live:
                tg.start_soon(_signals, live, tg.cancel_scope)
                while True:
                    live.update(render(await app.read(read)), refresh=True)
                    if await listener.next(timeout=tick):
                        await anyio.sleep(DEBOUNCE)  # the rest of the burst joins this redraw
                        listener.take()
                        listener.lost_some()
        finally:
            feed.detach(listener)


async def _signals(live: Live, scope: anyio.CancelScope) -> None:
    """Ctrl-C and SIGTERM end the board (the screen is restored as `Live` exits); a resize
    redraws it at once rather than at the next change."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGWINCH) as signals:
        async for signum in signals:
            if signum == signal.SIGWINCH:
                live.refresh()
            else:
                scope.cancel()
                return
