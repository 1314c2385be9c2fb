"""`taskloom watch`: the live terminal board. Rendering is checked in process against hostile
agent text; the command itself runs as a real process, over a pipe and under a pseudo-terminal,
while other real processes change the database."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from taskloom.cli import watch_board
from taskloom.models import TaskSpec
from taskloom.services import creation, runs
from tests.conftest import call
from tests.test_cli import TASKLOOM, refused, taskloom
from tests.test_cli_database import CAUSES, _wrong_file
from tests.test_cli_database import PROJECT as DB_PROJECT

# Agent-written text that a careless board would obey instead of showing.
MARKUP = "[bold red]x[/]"
ESCAPE = "wipe\x1b[2Jscreen"
RTL = "abc\u202edef"
HOSTILE_TITLE = f"{MARKUP} {ESCAPE} {RTL}"


async def hostile_project(client) -> None:
    """One task of each kind the board picks out, every text in it hostile."""
    await call(client, "agent_init", agent="alice", role="dev")
    await call(client, "task_create", tasks=[
        {"title": f"blocked {HOSTILE_TITLE}", "code": "B-1", "role": "dev"},
        {"title": f"failed {HOSTILE_TITLE}", "code": "F-1", "role": "dev", "max_attempts": 1},
        {"title": f"review {HOSTILE_TITLE}", "code": "R-1", "role": "dev", "requires_review": True},
    ])
    for code in ("B-1", "F-1", "R-1"):
        await call(client, "task_claim", task=code, agent="alice")
    await call(client, "task_block", task="B-1", reason=f"reason {MARKUP} {ESCAPE}", agent="alice")
    await call(client, "task_fail", task="F-1", reason=f"broke {MARKUP} {RTL}", agent="alice")
    await call(client, "task_done", task="R-1", summary="done", agent="alice")
    await call(client, "agent_log", text=f"log {MARKUP} {ESCAPE} {RTL}\x00end", agent="alice")
    await call(client, "stream_create", code="empty", name="nothing planned yet")
    await call(client, "stream_create", code="later", name=f"later {MARKUP}", depends_on=["empty"])
    await call(client, "task_create", tasks=[{"title": "waits forever", "stream": "later"}])


def draw(board: watch_board.Board, **console: object) -> tuple[str, str]:
    """The board as a recorded 100-column console prints it: (plain text, bytes written)."""
    out = io.StringIO()
    rec = Console(record=True, width=100, file=out, **console)
    rec.print(watch_board.render(board))
    return rec.export_text(styles=False), out.getvalue()


async def test_hostile_agent_text_is_shown_literally_never_obeyed(app, client):
    await hostile_project(client)
    board = await app.read(watch_board.watch_data)
    assert {d.kind for d in board.decisions} == {"blocked", "failed", "review", "escalation", "stuck"}
    for console in ({"force_terminal": True, "color_system": "truecolor"}, {"force_terminal": False}):
        text, written = draw(board, **console)
        # Markup is text: shown with its brackets, for the title, the reason and the log line.
        assert text.count(MARKUP) >= 4, text
        # An escape sequence or a bidi override reaches the terminal only as a visible escape.
        assert "\\x1b[2J" in text and "\\u202e" in text and "\\x00end" in text
        assert "\x1b[2J" not in written and "\u202e" not in written and "\x00" not in written
        if not console["force_terminal"]:
            assert "\x1b" not in written  # over a pipe: plain text only
        for heading in ("taskloom · project test", "Needs a decision", "Agents", "Activity"):
            assert heading in text


async def test_the_board_shows_totals_streams_agents_decisions_and_the_newest_activity_first(app, client):
    await call(client, "agent_init", agent="alice", role="dev")
    await call(client, "stream_create", code="core", name="Core")
    await call(client, "task_create", tasks=[{"title": f"t{i}", "stream": "core", "role": "dev"} for i in range(4)])
    claimed = (await call(client, "task_claim", agent="alice"))["detail"]["task"]["code"]
    await call(client, "task_done", task=claimed, summary="ok", agent="alice")
    await call(client, "task_claim", agent="alice")
    text, _ = draw(await app.read(watch_board.watch_data, 3), force_terminal=False)
    assert "1/4 closed" in text
    assert "[#####---------------]   25%" in text  # the stream's bar, as `taskloom status` draws it
    assert "alice" in text and "busy" in text
    assert "Nothing: no blockers, failures, reviews or open escalations." in text
    activity = text[text.index("Activity"):]
    assert len(activity.strip().splitlines()) == 1 + 3  # the heading and the three newest events
    assert activity.index("task.claimed") < activity.index("task.done")  # newest first


async def test_the_board_shows_the_runners_live_workers_and_what_they_hold(app):
    await app.write(creation.create_tasks, [TaskSpec(title="build it", code="A-1")])
    [(unit, _)] = await app.read(runs.ready_units, "task", None)
    await app.write(runs.start, unit, runner=runs.Runner("r1", "h", 4242, 1.0), preset="claude",
                    held_until=app.clock.now() + 30, agent="worker-1")
    text, _ = draw(await app.read(watch_board.watch_data), force_terminal=False)
    assert "Workers (taskloom run): 1 running" in text
    [line] = [ln for ln in text.splitlines() if ln.startswith("worker-1") and "claude" in ln]
    assert "A-1" in line and "started 0s ago" in line


# ---------------------------------------------------------------- the command, as a real process

PROJECT = "watched"
FIRST_PLAN = "tasks:\n  - {code: W-1, title: first}\n"
EXAMPLE_PLAN = Path(__file__).resolve().parents[2] / "examples" / "plan.yaml"
HEADER = b"taskloom \xc2\xb7 project"  # once per frame drawn
EXIT_ALT_SCREEN = b"\x1b[?1049l"
DEADLINE = 20.0  # seconds for anything we wait on: a start on a loaded machine, a redraw, an exit


def quiet_env() -> dict[str, str]:
    drop = ("TASKLOOM_DB", "TASKLOOM_PROJECT", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "TERM": "xterm-256color"}


def project(tmp_path: Path) -> Path:
    db = tmp_path / "t.db"
    (tmp_path / "first.yaml").write_text(FIRST_PLAN, encoding="utf-8")
    imported = taskloom("import", str(tmp_path / "first.yaml"), "--db", str(db), "--project", PROJECT)
    assert imported.returncode == 0, imported.stderr
    return db


class Terminal:
    """A pseudo-terminal with `taskloom watch` on its other end; everything it draws is kept."""

    def __init__(self, db: Path, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 120, 0, 0))  # rows, columns
        self.proc = subprocess.Popen(
            [TASKLOOM, "watch", "--db", str(db), "--project", PROJECT, *args],
            stdin=slave, stdout=slave, stderr=slave, env=quiet_env(), start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self.output = bytearray()
        self._grew = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the process closed the terminal
                chunk = b""
            with self._grew:
                self.output += chunk
                self._grew.notify_all()
            if not chunk:
                return

    def resize(self, rows: int, columns: int) -> None:
        fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc.send_signal(signal.SIGWINCH)  # the terminal is not its controlling one: tell it

    def frames(self) -> int:
        with self._grew:
            return self.output.count(HEADER)

    def wait_for(self, what: str, predicate, deadline: float = DEADLINE) -> None:
        with self._grew:
            if not self._grew.wait_for(lambda: predicate(bytes(self.output)), timeout=deadline):
                pytest.fail(f"no {what} within {deadline}s; the terminal showed:\n{bytes(self.output)!r}")

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)
        os.close(self._master)


@contextmanager
def terminal(db: Path, *args: str) -> Iterator[Terminal]:
    term = Terminal(db, *args)
    try:
        yield term
    finally:
        term.close()


def test_over_a_pipe_watch_prints_one_plain_snapshot_and_exits_0(tmp_path):
    db = project(tmp_path)
    run = taskloom("watch", "--db", str(db), "--project", PROJECT, env=quiet_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("taskloom · project watched") == 1
    assert "0/1 closed" in run.stdout and "W-1" in run.stdout and "Needs a decision" in run.stdout
    assert "\x1b" not in run.stdout and run.stderr == ""


def test_watch_of_a_mistyped_project_or_a_missing_file_is_a_clean_error_and_creates_nothing(tmp_path):
    db = project(tmp_path)
    refused(taskloom("watch", "--db", str(db), "--project", "wacthed"), "not_found", "wacthed", PROJECT)
    missing = tmp_path / "no" / "x.db"
    refused(taskloom("watch", "--db", str(missing), "--project", PROJECT), "No taskloom database", str(missing))
    assert not missing.parent.exists()
    assert "wacthed" not in taskloom("projects", "--db", str(db)).stdout


@pytest.mark.parametrize("kind", ["not a database", "corrupt page in tasks"])
async def test_watch_of_a_broken_file_is_the_usual_one_line_storage_error(tmp_path, kind):
    db = await _wrong_file(tmp_path, kind)
    run = taskloom("watch", "--db", str(db), "--project", DB_PROJECT)
    refused(run, "storage:", str(db), CAUSES[kind], "Next:")
    assert run.stdout == ""


def test_on_a_terminal_the_board_redraws_once_per_change_from_another_process_and_ctrl_c_exits_0(tmp_path):
    db = project(tmp_path)
    with terminal(db, "--tick", "3600") as term:
        term.wait_for("board", lambda out: HEADER in out and b"0/1 closed" in out)
        imported = taskloom("import", str(EXAMPLE_PLAN), "--db", str(db), "--project", PROJECT)
        assert imported.returncode == 0, imported.stderr
        term.wait_for("redraw after the import", lambda out: b"0/5 closed" in out, deadline=5.0)
        assert b"export-core" in term.output
        # The import's process took a second or more to start: a board that polled would have
        # drawn frames meanwhile; this one drew the first and one for the import's commit.
        assert term.frames() == 2, "one change, one redraw"
        term.resize(40, 90)  # a resize redraws at once, at the new size
        term.wait_for("redraw after a resize", lambda out: out.count(HEADER) == 3, deadline=5.0)
        assert term.stop(signal.SIGINT) == 0
        assert EXIT_ALT_SCREEN in term.output[-64:]
        assert term.frames() == 3
        assert b"Traceback" not in term.output


def test_with_nothing_changing_the_board_redraws_every_tick_and_sigterm_exits_0(tmp_path):
    db = project(tmp_path)
    with terminal(db, "--tick", "0.5") as term:
        term.wait_for("three ticks", lambda out: out.count(HEADER) >= 3)
        assert term.stop(signal.SIGTERM) == 0
        assert EXIT_ALT_SCREEN in term.output
        assert b"Traceback" not in term.output


@pytest.mark.parametrize(("flag", "value"), [("--activity", "201"), ("--tick", "nan")])
def test_watch_refuses_a_bad_number_in_one_line(tmp_path, flag, value):
    run = taskloom("watch", "--db", str(tmp_path / "t.db"), "--project", PROJECT, flag, value)
    refused(run, "invalid_input", f"{flag} {value}")
    assert run.stdout == ""
