"""`taskloom watch`: the live terminal board. Rendering is checked in process against hostile
agent text; the command itself runs as a real process, over a pipe and under a pseudo-terminal,
while other real processes change the database."""

from __future__ import annotations

import io

from rich.console import Console

from taskloom.cli import watch
from tests.conftest import call

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


def draw(board: watch.Board, **console: object) -> tuple[str, str]:
    """The board as a recorded 100-column console prints it: (plain text, bytes written)."""
    out = io.StringIO()
    rec = Console(record=True, width=100, file=out, **console)
    rec.print(watch.render(board))
    return rec.export_text(styles=False), out.getvalue()


async def test_hostile_agent_text_is_shown_literally_never_obeyed(app, client):
    await hostile_project(client)
    board = await app.read(watch.watch_data)
    assert {d.kind for d in board.decisions} >= {"blocked", "failed", "review", "escalation"}
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
    text, _ = draw(await app.read(watch.watch_data, 3), force_terminal=False)
    assert "1/4 closed" in text
    assert "[#####---------------]   25%" in text  # the stream's bar, as `taskloom status` draws it
    assert "alice" in text and "busy" in text
    assert "Nothing: no blockers, failures, reviews or open escalations." in text
    activity = text[text.index("Activity"):]
    assert len(activity.strip().splitlines()) == 1 + 3  # the heading and the three newest events
    assert activity.index("task.claimed") < activity.index("task.done")  # newest first
