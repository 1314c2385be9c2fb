"""Completion reports: a sprint worked through real tool calls under the injected clock (leases:
60 s), with a failed attempt and its retry, a blocker answered, an expired lease acknowledged,
artifacts, and a task outside the sprint that must not count; then the report's model and its
Markdown, read section by section.

The sprint's plan: A, then B and C (both after A), then D (after both). Planned, the critical path
is A, B, D (the first of two equal chains); B finishes first, so as it happened it is A, C, D.
"""

from __future__ import annotations

import re

import pytest

from taskloom.clock import iso
from taskloom.errors import InvalidInput, NotFound, TooLarge
from taskloom.resolver import Resolver
from taskloom.services import completion
from taskloom.services.completion_md import render
from tests.conftest import call

T0 = 1_800_000_000.0


def sections(markdown: str) -> dict[str, str]:
    """The report's `## ` sections by heading, each without its heading line."""
    out = {}
    for part in markdown.split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        out[heading] = body.strip()
    return out


def table(body: str) -> list[list[str]]:
    """A section's Markdown table as rows of cells (header and rule left out); `\\|` stays in its cell."""
    lines = [line for line in body.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


async def at(clock, t: float) -> None:
    clock.advance(T0 + t - clock.now())


async def sprint_worked_through(client, app, clock) -> dict[str, str]:
    await call(client, "sprint_create", code="S1", title="First sprint", goal="Ship the API")
    await call(client, "task_create", agent="carol", tasks=[
        {"code": "A", "title": "Schema", "sprint": "S1"},
        {"code": "B", "title": "API | routes", "sprint": "S1", "depends_on": ["A"]},
        {"code": "C", "title": "Docs", "sprint": "S1", "depends_on": ["A"]},
        {"code": "D", "title": "Release", "sprint": "S1", "depends_on": ["B", "C"]},
        {"code": "X", "title": "Elsewhere"},
    ])
    await at(clock, 10)
    await call(client, "task_claim", task="A", agent="alice")
    await call(client, "task_claim", task="X", agent="dave")
    await at(clock, 60)
    await call(client, "task_done", task="A", summary="tables in migrations/0001.sql\n- users\n- orders", agent="alice")
    await call(client, "task_done", task="X", summary="not in the sprint", agent="dave")
    await at(clock, 65)
    await call(client, "task_claim", task="B", agent="alice")
    await at(clock, 85)
    await call(client, "task_fail", task="B", reason="flaky network", agent="alice")
    await at(clock, 90)
    await call(client, "task_claim", task="B", agent="dave")
    await at(clock, 95)
    await call(client, "task_claim", task="C", agent="alice")
    await at(clock, 100)
    await call(client, "task_block", task="C", reason="which format?\n| yaml or json |", agent="alice")
    await at(clock, 120)
    await call(client, "task_unblock", task="C", answer="yaml", agent="boss")
    await at(clock, 150)
    spec = await call(client, "artifacts_upload", name="api.md", content="# API\n", links=["task:B"], agent="dave")
    await call(client, "task_done", task="B", summary="routes in api.py", artifacts=[spec["artifact"]["uri"]], agent="dave")
    await call(client, "artifacts_upload", name="notes.txt", content="sprint notes", links=["sprint:S1"], agent="boss")
    await call(client, "artifacts_upload", name="other.txt", content="not ours", links=["task:X"], agent="dave")
    await at(clock, 170)
    await call(client, "task_done", task="C", summary="docs/format.md", agent="alice")
    await at(clock, 175)
    await call(client, "task_claim", task="D", agent="dave")
    await at(clock, 236)
    assert (await Resolver(app).run_once())["expired"] == ["D"]
    inbox = await call(client, "message_inbox", agent="boss", limit=200)
    expired = [m["id"] for m in inbox["messages"] if m["subject"].startswith("[lease_expired] D")]
    await call(client, "message_ack", ids=expired, agent="boss")
    await at(clock, 240)
    await call(client, "task_claim", task="D", agent="alice")
    await at(clock, 300)
    await call(client, "task_done", task="D", summary="tagged v1.0", agent="alice")
    await at(clock, 400)
    return {"spec": spec["artifact"]["uri"]}


async def test_a_sprint_report_holds_who_did_what_durations_paths_troubles_artifacts_and_changelog(team, app, clock):
    made = await sprint_worked_through(team, app, clock)

    report = await app.read(completion.build, "S1", None)

    assert (report.scope, report.code, report.title, report.goal) == ("sprint", "S1", "First sprint", "Ship the API")
    assert report.counts == {"done": 4}  # X is not in the sprint
    assert (report.started_at, report.finished_at, report.elapsed) == (iso(T0 + 10), iso(T0 + 300), 290.0)
    assert [t.code for t in report.done] == ["A", "B", "C", "D"]
    a, b, c, d = report.done
    assert (a.done_by, a.created_to_done, a.claimed_to_done, a.in_progress, a.attempts) == ("alice", 60, 50, 50, 1)
    assert (b.done_by, b.claimed_to_done, b.in_progress, b.attempts) == ("dave", 85, 80, 2)  # alice 20 s, dave 60 s
    assert (c.done_by, c.in_progress) == ("alice", 55)  # 20 s blocked between is not in progress
    assert (d.done_by, d.in_progress) == ("alice", 121)  # dave's 61 s before the expiry, alice's 60 s
    assert [(w.agent, w.tasks_done, w.in_progress) for w in report.agents] == [
        ("alice", ["A", "C", "D"], 50 + 20 + 55 + 60), ("dave", ["B"], 60 + 61)
    ]
    assert [s.code for s in report.planned_path] == ["A", "B", "D"]
    assert [(s.code, s.after_start) for s in report.actual_path] == [("A", 50), ("C", 160), ("D", 290)]
    assert (report.failed_attempts, report.lease_expiries) == (1, 1)
    troubles = {t.code: t for t in report.troubles}
    assert list(troubles) == ["B", "C", "D"]  # in the order they first went wrong
    assert [(i.what, i.agent, i.reason) for i in troubles["B"].incidents] == [("retried", "alice", "flaky network")]
    assert troubles["B"].escalations == [] and troubles["B"].outcome == "done by dave at 2027-01-15 08:02:30Z (2 claims)"
    [blocker] = troubles["C"].escalations
    assert blocker.trigger == "blocker" and blocker.settled == "answered with task_unblock at 2027-01-15 08:02:00Z"
    [expiry] = troubles["D"].incidents
    assert (expiry.what, expiry.agent) == ("lease_expired", "dave")
    [lost] = troubles["D"].escalations
    assert lost.trigger == "lease_expired" and lost.settled == "acknowledged by boss at 2027-01-15 08:03:56Z"
    assert [(x.name, x.linked_to) for x in report.artifacts] == [("api.md", ["task:B"]), ("notes.txt", ["sprint:S1"])]
    assert report.artifacts[0].uri == made["spec"]

    text = render(report)
    got = sections(text)
    assert text.startswith("# Completion report: sprint S1: First sprint\n")
    assert list(got) == ["Summary", "Who did what", "Durations", "Critical path: planned and actual",
                         "Failures, retries and escalations", "Artifacts", "Changelog"]
    summary = dict(table(got["Summary"]))
    assert summary["Tasks"] == "4 (4 done)" and summary["Elapsed"] == "4m50s"
    assert summary["Escalations"] == "2 (2 settled, 0 open)" and summary["Failed attempts"] == "1"
    assert table(got["Who did what"]) == [["alice", "3", "3m05s", "A, C, D"], ["dave", "1", "2m01s", "B"]]
    durations = table(got["Durations"])
    assert durations[1] == ["B", "API \\| routes", "dave", "2m30s", "1m25s", "1m20s", "2"]  # the pipe stays in its cell
    assert durations[-1][0] == "**Total**"
    paths = table(got["Critical path: planned and actual"])
    assert [(row[1], row[3], row[4]) for row in paths] == [
        ("A Schema", "A Schema", "+50s"), ("B API \\| routes", "C Docs", "+2m40s"), ("D Release", "D Release", "+4m50s")
    ]
    trouble = got["Failures, retries and escalations"]
    assert [h for h in trouble.splitlines() if h.startswith("### ")] == ["### B API \\| routes", "### C Docs", "### D Release"]
    # The reason's newline and pipes are folded into its one list item.
    assert "escalated (blocker): alice reports C blocked: which format? \\| yaml or json \\|. Settled: answered" in trouble
    assert [row[0] for row in table(got["Artifacts"])] == ["api.md", "notes.txt"]
    log = got["Changelog"].splitlines()
    assert [line.split(" (")[0] for line in log if line[:1].isdigit()] == [
        "1. **A** Schema", "2. **B** API \\| routes", "3. **C** Docs", "4. **D** Release"
    ]
    assert log[1:4] == ["   tables in migrations/0001.sql", "   - users", "   - orders"]  # its own list, inside the item
    assert render(await app.read(completion.build, "S1", None)) == text  # the same database and clock: the same text


async def test_a_stream_report_and_the_project_report_cover_their_own_tasks(team, app, clock):
    client = team
    await call(client, "stream_create", code="api", name="Public API", description="v1 routes")
    await call(client, "task_create", agent="carol", tasks=[
        {"code": "A", "title": "in the stream", "stream": "api"}, {"code": "B", "title": "outside"}
    ])
    await call(client, "task_claim", task="A", agent="alice")
    clock.advance(30)
    await call(client, "task_done", task="A", summary="ok", agent="alice")
    await call(client, "task_update", task="B", status="cancelled", reason="not needed", agent="boss")
    await call(client, "artifacts_upload", name="design.md", content="d", links=["stream:api", "task:B"])
    await call(client, "artifacts_upload", name="readme.md", content="r")  # the project's

    stream = await app.read(completion.build, None, "api")
    assert (stream.scope, stream.title, stream.goal, stream.counts) == ("stream", "Public API", "v1 routes", {"done": 1})
    assert [(a.name, a.linked_to) for a in stream.artifacts] == [("design.md", ["stream:api"])]
    project = await app.read(completion.build)
    assert (project.scope, project.code, project.counts) == ("project", None, {"cancelled": 1, "done": 1})
    assert [(a.name, a.linked_to) for a in project.artifacts] == [
        ("design.md", ["stream:api", "task:B"]), ("readme.md", ["project"])
    ]
    assert [s.code for s in project.planned_path] == ["A"]  # a cancelled task is no part of the plan
    got = sections(render(project))
    assert table(got["Not done"]) == [["B", "outside", "cancelled", "not needed"]]
    assert got["Failures, retries and escalations"].startswith("None")


async def test_an_empty_sprint_reports_that_nothing_happened(app, client):
    await call(client, "sprint_create", code="S0", title="Quiet")
    text = render(await app.read(completion.build, "S0", None))
    got = sections(text)
    assert dict(table(got["Summary"]))["Tasks"] == "0 (none)"
    assert got["Changelog"] == "Nothing done yet." and got["Durations"] == "No task is done yet."


async def test_a_report_of_a_sprint_and_a_stream_at_once_or_of_an_unknown_one_is_refused(app, client):
    await call(client, "sprint_create", code="S1", title="One")
    with pytest.raises(InvalidInput, match="a sprint or a stream, not both"):
        await app.read(completion.build, "S1", "api")
    with pytest.raises(NotFound, match="Sprint S9 does not exist"):
        await app.read(completion.build, "S9", None)
    with pytest.raises(NotFound, match="Stream nope does not exist"):
        await app.read(completion.build, None, "nope")



async def test_a_report_over_its_task_limit_is_too_large_and_says_to_report_a_sprint_or_stream(app, client, monkeypatch):
    monkeypatch.setattr(completion, "MAX_TASKS", 2)
    await call(client, "task_create", tasks=[{"title": "one"}, {"title": "two"}])
    assert (await app.read(completion.build)).counts == {"ready": 2}
    await call(client, "task_create", tasks=[{"title": "three"}])
    with pytest.raises(TooLarge, match="more than 2 tasks") as err:
        await app.read(completion.build)
    assert "--sprint" in err.value.hint


class Counting:
    """A Tx that counts the statements run through it."""

    def __init__(self, tx) -> None:
        self.tx, self.statements = tx, 0

    def __getattr__(self, name: str):
        method = getattr(self.tx, name)

        def counted(*args, **kwargs):
            self.statements += 1
            return method(*args, **kwargs)

        return counted


async def statements(app, sprint: str) -> int:
    def build(tx, scope):
        counting = Counting(tx)
        completion.build(counting, scope, sprint, None)
        return counting.statements

    return await app.read(build)


async def test_a_report_costs_the_same_statements_for_two_tasks_as_for_forty(app, client, clock):
    for sprint, n in (("small", 2), ("big", 40)):
        await call(client, "sprint_create", code=sprint, title=sprint)
        codes = [f"{sprint}-{i}" for i in range(n)]
        await call(client, "task_create", tasks=[
            {"code": c, "title": c, "sprint": sprint, "depends_on": codes[i - 1:i]} for i, c in enumerate(codes)
        ])
        for c in codes:
            await call(client, "task_claim", task=c, agent="alice")
            clock.advance(1)
            await call(client, "task_fail" if c.endswith("-0") else "task_done", task=c, agent="alice",
                       **({"reason": "flaky"} if c.endswith("-0") else {"summary": "ok"}))
            if c.endswith("-0"):
                await call(client, "task_claim", task=c, agent="alice")
                await call(client, "task_done", task=c, summary="ok", agent="alice")
        await call(client, "artifacts_upload", name=f"{sprint}.md", content=sprint, links=[f"task:{c}" for c in codes])
    assert len((await app.read(completion.build, "big", None)).done) == 40
    assert await statements(app, "big") == await statements(app, "small") == 6  # the sprint, then five
