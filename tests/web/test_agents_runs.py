"""The agents and runs pages and a run's log tail, through the ASGI app on a real SQLite file,
with agents, claims and runs made by the real services (the runner's own rows)."""

from __future__ import annotations

from pathlib import Path

from taskloom.domain import runs as rules
from taskloom.services import agents, runs, work
from taskloom.web.routes.runs import STOP_POLLING, TAIL_LINES
from tests.web.conftest import import_example
from tests.web.hostile import findings

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "../../etc/passwd"]
POLL = 'hx-trigger="every 2s"'


async def join(app, name: str, role: str | None = "backend") -> None:
    s = app.settings
    await app.write(agents.init, role, None, resolver_last_run=None, online_seconds=s.online_seconds,
                    offline_seconds=s.offline_seconds, backend="sqlite", schema_version=1, agent=name)


async def start_run(app, code: str, agent: str, log: Path | None) -> int:
    unit = next(u for u, _ in await app.read(runs.ready_units, "task", None) if u.task == code)
    started = await app.write(runs.start, unit, runner=runs.Runner("r1", "h", 4242, 1.0), preset="claude",
                              held_until=app.clock.now() + 30, agent=agent)
    if log is not None:
        await app.write(runs.spawned, started.run_id, 5151, 2.0, ["claude", "-p"], str(log), agent=agent)
    return started.run_id


async def test_the_agents_page_says_how_to_start_agents_when_none_joined(web):
    r = await web.get("/ui/agents")
    assert r.status_code == 200 and "No agent has joined yet" in r.text


async def test_the_agents_page_shows_presence_role_current_task_holds_and_recent_activity(app, web, clock):
    await import_example(app)
    await join(app, "alice")
    await join(app, "carol", role="frontend")
    await app.write(work.claim, code="EXP-1", agent="alice")
    clock.advance(20 * 60)  # carol goes quiet: offline
    await app.write(agents.touch, "alice", agent="alice")
    r = await web.get("/ui/agents")
    assert r.status_code == 200
    rows = {name: r.text.split(name, 1)[1].split("</tr>", 1)[0] for name in ("alice", "carol")}
    assert '<tr class="p-busy">' in r.text and "busy" in rows["alice"] and "backend" in rows["alice"]
    assert '/ui/task/EXP-1">EXP-1</a>' in rows["alice"] and '<td class="num">1</td>' in rows["alice"]
    assert "task.claimed" in rows["alice"]  # its recent activity
    assert "offline" in rows["carol"] and "frontend" in rows["carol"] and '<td class="num">0</td>' in rows["carol"]
    region = await web.get("/ui/agents/p/roster")
    assert region.status_code == 200 and "<html" not in region.text and "alice" in region.text


async def test_the_runs_page_says_when_nothing_ran(web):
    r = await web.get("/ui/runs")
    assert r.status_code == 200
    assert "No worker is running" in r.text and "No run has ended yet" in r.text


async def test_the_runs_page_shows_live_workers_and_how_recent_runs_ended(app, web, clock, tmp_path):
    await import_example(app)
    first = await start_run(app, "EXP-1", "w1", tmp_path / "w1.log")
    clock.advance(125)
    await app.write(runs.end, first, rules.Outcome.EXITED, exit_code=3, reason="crashed", cost_usd=0.4213, turns=7,
                    agent="w1")
    await app.write(runs.hand_back, "exited", agent="w1")
    second = await start_run(app, "EXP-1", "w2", tmp_path / "w2.log")
    r = await web.get("/ui/runs")
    assert r.status_code == 200
    live, ended = r.text.split("Recent runs", 1)
    assert f"#{second}" in live and "w2" in live and "/ui/task/EXP-1" in live and "claude" in live
    assert f"/ui/runs/{second}/log" in live and f"#{first}" not in live
    row = ended.split(f"#{first}", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num exit">3</td>' in row and "2m05s" in row and "$0.42" in row and '<td class="num">7</td>' in row
    assert "exited" in row and "crashed" in row
    region = await web.get("/ui/runs/p/runs")
    assert region.status_code == 200 and "<html" not in region.text and f"#{second}" in region.text


async def test_a_live_runs_log_tail_is_its_last_200_lines_escaped_and_polled(app, web, tmp_path):
    await import_example(app)
    log = tmp_path / "w1.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)) + "<script>alert(1)</script>\n")
    run = await start_run(app, "EXP-1", "w1", log)
    r = await web.get(f"/ui/runs/{run}/log")
    assert r.status_code == 200
    pre = r.text.split('<pre class="log">', 1)[1].split("</pre>", 1)[0]
    shown = pre.split("\n")
    assert len(shown) == TAIL_LINES and shown[0] == "line 801" and shown[-1] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert POLL in r.text and findings(r.text) == []
    with log.open("a") as f:
        f.write("a new line\n")
    tail = await web.get(f"/ui/runs/{run}/log/p/tail")
    assert tail.status_code == 200 and "<html" not in tail.text and tail.text.rstrip().endswith("a new line</pre>")


async def test_an_ended_runs_log_is_not_polled_and_its_region_tells_htmx_to_stop(app, web, tmp_path):
    await import_example(app)
    log = tmp_path / "w1.log"
    log.write_text("done\n")
    run = await start_run(app, "EXP-1", "w1", log)
    await app.write(runs.end, run, rules.Outcome.DONE, exit_code=0, agent="w1")
    r = await web.get(f"/ui/runs/{run}/log")
    assert r.status_code == 200 and POLL not in r.text and "exit code 0" in r.text
    tail = await web.get(f"/ui/runs/{run}/log/p/tail")
    assert tail.status_code == STOP_POLLING and "done" in tail.text


async def test_a_missing_or_rotated_log_is_a_clear_message_not_an_error(app, web, tmp_path):
    await import_example(app)
    gone = await start_run(app, "EXP-1", "w1", tmp_path / "never-written.log")
    r = await web.get(f"/ui/runs/{gone}/log")
    assert r.status_code == 200 and "is gone" in r.text and "never-written.log" in r.text
    await app.write(runs.end, gone, rules.Outcome.EXITED, exit_code=1, agent="w1")
    await app.write(runs.hand_back, "exited", agent="w1")
    log = tmp_path / "w2.log"
    (tmp_path / "w2.log.1").write_text("".join(f"old {i}\n" for i in range(300)))
    log.write_text("new 0\nnew 1\n")  # just rotated: the log restarted, its past is in .1
    rotated = await start_run(app, "EXP-1", "w2", log)
    shown = (await web.get(f"/ui/runs/{rotated}/log")).text.split('<pre class="log">', 1)[1].split("</pre>", 1)[0]
    lines = shown.split("\n")
    assert len(lines) == TAIL_LINES and lines[0] == "old 102" and lines[-2:] == ["new 0", "new 1"]


async def test_a_run_that_never_spawned_says_it_has_no_log(app, web):
    await import_example(app)
    run = await start_run(app, "EXP-1", "w1", None)
    r = await web.get(f"/ui/runs/{run}/log")
    assert r.status_code == 200 and "no log file" in r.text


async def test_an_unknown_run_is_404(web):
    for path in ("/ui/runs/999/log", "/ui/runs/999/log/p/tail", "/ui/runs/abc/log", "/ui/runs/-1/log",
                 "/ui/runs/99999999999999999999999/log"):
        r = await web.get(path)
        assert r.status_code == 404, path
        assert "Traceback" not in r.text


async def test_hostile_agent_names_are_escaped_on_the_agents_runs_and_log_pages(app, web, tmp_path):
    await import_example(app)
    for name in HOSTILE:
        await join(app, name)
    await app.write(work.claim, code="EXP-1", agent=HOSTILE[0])
    await app.write(work.release, "EXP-1", "give it to a worker", agent=HOSTILE[0])
    log = tmp_path / "w.log"
    log.write_text('"><img src=x onerror=alert(1)>\n')
    run = await start_run(app, "EXP-1", HOSTILE[1], log)
    for path in ("/ui/agents", "/ui/agents/p/roster", "/ui/runs", "/ui/runs/p/runs", f"/ui/runs/{run}/log"):
        r = await web.get(path)
        assert r.status_code == 200, path
        assert findings(r.text) == [], path
        assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    agents_page = (await web.get("/ui/agents")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in agents_page and "../../etc/passwd" in agents_page


async def test_a_foreign_host_gets_421_on_the_agents_and_runs_pages(app, web, tmp_path):
    await import_example(app)
    run = await start_run(app, "EXP-1", "w1", tmp_path / "w.log")
    for path in ("/ui/agents", "/ui/agents/p/roster", "/ui/runs", "/ui/runs/p/runs", f"/ui/runs/{run}/log",
                 f"/ui/runs/{run}/log/p/tail"):
        r = await web.get(path, headers={"host": "evil.example"})
        assert r.status_code == 421, path


async def test_the_log_regions_last_answer_says_the_run_ended(app, web, tmp_path):
    log = tmp_path / "w.log"
    log.write_text("working\n")
    await import_example(app)
    run_id = await start_run(app, "EXP-1", "w1", log)
    assert "running" in (await web.get(f"/ui/runs/{run_id}/log/p/tail")).text
    await app.write(runs.end, run_id, rules.Outcome.DONE, exit_code=0, agent="w1")

    last = await web.get(f"/ui/runs/{run_id}/log/p/tail")

    assert last.status_code == 286 and "exit code 0" in last.text and "running" not in last.text
