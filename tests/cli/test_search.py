"""`taskloom search`: one hit a line with its snippet (as a real process), JSON for programs, and
a bad flag as one line with exit 2."""

from __future__ import annotations

import json

import anyio
import pytest

from taskloom.cli.main import main
from taskloom.config import Settings
from taskloom.models import TaskSpec
from taskloom.services import creation, messages
from taskloom.services.app import Taskloom
from tests.test_cli import taskloom


async def _build(db, clock) -> None:
    app = await Taskloom.open(Settings(db_path=db, project="p"), clock)
    try:
        await app.write(creation.create_tasks, [TaskSpec(code="A", title="Fix the index bug \x1b[2J",
                                                         description="The lease index is rebuilt.")], agent="carol")
        await app.write(messages.send, "task:A", "index rebuilt in the thread", agent="carol")
        await app.write(messages.send, "all", "private index gossip", agent="carol")
    finally:
        await app.close()


def test_search_prints_a_hit_a_line_and_json_and_refuses_bad_flags(tmp_path, clock, capsys):
    db = tmp_path / "t.db"
    anyio.run(_build, db, clock)
    where = ("--db", str(db), "--project", "p")

    text = taskloom("search", 'index "lease" -zzz', *where)
    assert text.returncode == 0, text.stderr
    [line] = text.stdout.splitlines()
    assert line.startswith("A ") and "\\x1b[2J" in line and "\x1b" not in line and "**lease**" in line

    assert main(["search", "index", "--json", *where]) == 0
    found = json.loads(capsys.readouterr().out)
    # A person sees the task's thread, as on the dashboard, not the broadcast.
    assert {(h["kind"], h["task"]) for h in found["hits"]} == {("task", "A"), ("message", "A")}

    for flags, needle in ((["--limit", "0"], "--limit"), (["--kind", "bug"], "--kind")):
        with pytest.raises(SystemExit) as exit_:
            main(["search", "index", *flags, *where])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("taskloom: invalid_input") and needle in err and err.count("\n") == 1
    assert main(["search", "index", "--stream", "nope", *where]) == 2
    assert capsys.readouterr().err.startswith("taskloom: not_found: Stream nope does not exist")
