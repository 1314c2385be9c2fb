"""Issue 14's "done when", end to end with real processes: a plan is imported, `taskloom run`
starts scripted agents, `taskloom dashboard` shows the work, a worker blocks on a question, a
person answers it from the task page, and the run finishes with the answer in the record."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2 as httpx

from taskloom.web.sessions import COOKIE
from tests.server.test_transports import TASKLOOM, terminate
from tests.web.conftest import EXAMPLES, csrf_of

PROJECT = "demo"
QUESTION = "Token auth or session cookies?"


async def _dashboard(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with log.open("w") as err:
        proc = subprocess.Popen(  # noqa: ASYNC220 (a server that outlives this call; it only forks here)
            [TASKLOOM, "dashboard", "--db", str(db), "--project", PROJECT, "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=err)
    with anyio.fail_after(20):
        while not (found := re.search(r"http://127\.0\.0\.1:(\d+)/ui/", log.read_text())):
            assert proc.poll() is None, log.read_text()
            await anyio.sleep(0.05)
    return proc, f"http://127.0.0.1:{found.group(1)}"


async def test_a_person_watches_a_run_and_answers_a_blocker_from_the_page(tmp_path):
    db = tmp_path / ".taskloom" / "taskloom.db"
    where = ["--db", str(db), "--project", PROJECT]
    await anyio.run_process([TASKLOOM, "import", str(EXAMPLES / "team_plan.yaml"), *where])
    dashboard, base = await _dashboard(db, tmp_path / "dashboard.log")
    agent = shlex.join([sys.executable, str(EXAMPLES / "scripted_agent.py"), "--work-seconds", "0.1",
                        "--ask", "API-1", QUESTION]) + " --mcp {mcp_config} --prompt {prompt_file}"
    with (tmp_path / "run.log").open("w") as out:
        run = subprocess.Popen(  # noqa: ASYNC220 (the runner outlives this call; it only forks here)
            [TASKLOOM, "run", "--until-idle", "--max-workers", "3", "--grace", "2", "--agent-cmd", agent, *where],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=20, headers={"origin": base}) as web:
            root = await web.get("/")
            assert root.status_code == 307 and root.headers["location"] == "/ui/"
            signed = await web.post("/ui/login", data={"name": "alice"})
            assert signed.status_code == 303 and COOKIE in web.cookies
            # Wait for the question on the task's live stream, as the page does: no polling.
            with anyio.fail_after(60):
                async with web.stream("GET", "/ui/events?r=task&code=API-1") as events:
                    async for line in events.aiter_lines():
                        if line.startswith("event:") and 'id="answer"' in (page := await web.get("/ui/task/API-1")).text:
                            break
            assert QUESTION in page.text
            answered = await web.post("/ui/task/API-1/unblock",
                                      data={"csrf": csrf_of(page.text), "answer": "Session cookies, SameSite=Strict."})
            assert answered.status_code == 303
            code = await anyio.to_thread.run_sync(run.wait, 120)
            assert code == 0, (tmp_path / "run.log").read_text()
            done = (await web.get("/ui/task/API-1")).text
            assert 'id="task-status">done' in done.replace("\n", "")
            assert "Answer from alice: Session cookies, SameSite=Strict." in done
            overview = (await web.get("/ui/")).text
            assert "6</span> done" in overview
        board = (await anyio.run_process([TASKLOOM, "watch", "--once", *where])).stdout.decode()
        assert "6/6 closed" in board and "Nothing: no blockers" in board
    finally:
        terminate(run)
        terminate(dashboard)
