"""`taskloom report time` on a real SQLite file the tools wrote under the injected clock: each
format parsed back, and careless flags refused in one line with exit 2."""

from __future__ import annotations

import csv
import io
import json

import anyio
import pytest

from taskloom.cli.main import main
from taskloom.cli.timesheet import COLUMNS, render
from taskloom.clock import ManualClock
from taskloom.models.timesheet import Timesheet, TimeSpan
from tests.conftest import call
from tests.test_cli import refused, taskloom

# The tools' clock starts in the past: the command reads the wall clock, and stops the report at
# --until (600 s after the start) however long ago that was.
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
UNTIL = "2023-11-14T22:23:20Z"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def worked(client, clock, db_path):
    """X (role dev): ready 10 s, alice 20 s, done. Y (role 'qa, web'): ready since T0, never claimed."""
    await call(client, "agent_init", agent="alice", role="dev")
    await call(client, "task_create", agent="alice", tasks=[
        {"code": "X", "title": "x", "role": "dev"}, {"code": "Y", "title": "y", "role": "qa, web"},
    ])
    clock.advance(10)
    await call(client, "task_claim", task="X", agent="alice")
    clock.advance(20)
    await call(client, "task_done", task="X", summary="ok", agent="alice")
    return ["--db", str(db_path), "--project", "test", "--until", UNTIL]


async def report(capsys, *args: str) -> tuple[int, str, str]:
    """The command in process (main runs its own event loop, so on a thread of its own)."""

    def run() -> int:
        try:
            return main(["report", "time", *args])
        except SystemExit as exc:  # argparse's refusals
            return int(exc.code)

    code = await anyio.to_thread.run_sync(run)
    out = capsys.readouterr()
    return code, out.out, out.err


EXPECTED = [
    # timestamp, mode, task_id, start_time, end_time, duration, status
    ["2023-11-14T22:13:20Z", "dev", "X", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z", "0", "waiting"],
    ["2023-11-14T22:13:20Z", "qa, web", "Y", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z", "0", "waiting"],
    ["2023-11-14T22:13:30Z", "dev", "X", "2023-11-14T22:13:20Z", "2023-11-14T22:13:30Z", "10", "ready"],
    ["2023-11-14T22:13:50Z", "dev", "X", "2023-11-14T22:13:30Z", "2023-11-14T22:13:50Z", "20", "in_progress"],
    ["2023-11-14T22:23:20Z", "qa, web", "Y", "2023-11-14T22:13:20Z", "", "600", "ready"],  # open: no end
    ["2023-11-14T22:23:20Z", "dev", "X", "2023-11-14T22:13:50Z", "", "570", "done"],
]


async def test_tsv_to_stdout_has_seed_002s_columns_one_row_per_span(worked, capsys):
    code, out, err = await report(capsys, *worked)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split("\t") == list(COLUMNS)
    assert [line.split("\t") for line in lines[1:]] == EXPECTED


async def test_csv_to_a_file_reads_back_with_the_csv_module(worked, capsys, tmp_path):
    target = tmp_path / "time.csv"
    code, out, err = await report(capsys, *worked, "--format", "csv", "-o", str(target))
    assert (code, out) == (0, "")
    assert err == f"taskloom: wrote 6 spans of 2 tasks to {target}\n"
    with target.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [list(COLUMNS), *EXPECTED]
    assert '"qa, web"' in target.read_text(encoding="utf-8")


async def test_json_has_tasks_agents_and_spans(worked, capsys):
    code, out, _ = await report(capsys, *worked, "--format", "json", "--since", "2023-11-14T22:13:25+00:00")
    assert code == 0
    doc = json.loads(out)
    assert (doc["since"], doc["until"]) == ("2023-11-14T22:13:25.000Z", "2023-11-14T22:23:20.000Z")
    x = doc["tasks"][0]
    assert (x["code"], x["waiting_for_claim"], x["seconds"]["in_progress"], x["claims"]) == ("X", 5, 20, 1)
    assert x["holders"] == [{"agent": "alice", "in_progress": 20, "blocked": 0}]
    [alice] = doc["agents"]
    # Seen at 0, 10 and 30 (its last call); gone 15 minutes after, and the window ends at 600.
    assert (alice["name"], alice["present"], alice["busy"], alice["idle"]) == ("alice", 25, 20, 5)
    assert [s["status"] for s in doc["spans"]] == ["ready", "in_progress", "ready", "done"]


def test_text_in_a_field_cannot_split_a_row_or_run_as_a_formula():
    span = TimeSpan(task="T-1", role="a\tb\nc=", status="ready", start="2027-01-15T08:00:00.000Z", end=None,
                    seconds=1.5, open=True, holder=None, moved_by=None)
    hostile = span.model_copy(update={"role": "=HYPERLINK(\"http://x\")"})
    sheet = Timesheet(project="p", sprint=None, stream=None, since=None, until="2027-01-15T08:00:01.500Z",
                      made_at="2027-01-15T08:00:01.500Z", tasks=[], agents=[], spans=[span, hostile])
    lines = render(sheet, "tsv").splitlines()
    assert [len(line.split("\t")) for line in lines] == [7, 7, 7]
    assert lines[1].split("\t")[1:3] == ["a b c=", "T-1"]
    assert lines[1].split("\t")[5] == "1.5"
    rows = list(csv.reader(io.StringIO(render(sheet, "csv"), newline="")))
    assert rows[1][1] == "a\tb\nc="  # CSV quotes what TSV cannot
    assert rows[2][1] == "'=HYPERLINK(\"http://x\")"


async def test_careless_flags_are_one_line_and_exit_2(worked, capsys, tmp_path):
    refused(taskloom("report", "time", *worked, "--format", "xml"), "invalid choice: 'xml'", "tsv")
    for flags, needle in [
        (["--since", "yesterday"], "'yesterday' is not an ISO 8601 time"),
        (["--since", "2023-11-14T23:00:00Z"], "after its end"),
        (["--sprint", "S9"], "Sprint S9 does not exist"),
        (["-o", str(tmp_path / "missing" / "t.tsv")], "Cannot write"),
    ]:
        code, out, err = await report(capsys, *worked, *flags)
        assert (code, out) == (2, ""), (flags, err)
        assert err.startswith("taskloom: ") and err.count("\n") == 1 and needle in err, err
        assert "Traceback" not in err
    code, _, err = await report(capsys, "--db", str(tmp_path / "none.db"))
    assert code == 2 and "No taskloom database" in err
    assert not (tmp_path / "none.db").exists()
