"""`taskloom run` end to end: a real runner process starts real agent programs (tests/runner/agent.py,
an MCP client like Claude Code) that reach the database through `taskloom serve --profile worker`.

Each test checks the outcomes in the database (every task done exactly once, attempts, runs rows,
notes, artifacts), the logs on disk, and that no process of the run survives it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

HERE = Path(__file__).parent
AGENT = HERE / "agent.py"
TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
BOUND = 120.0  # seconds: only a bound on a stuck run


def child_env() -> dict[str, str]:
    """The test's environment without the developer's own TASKLOOM_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


def plan(tasks: int, streams: int = 3) -> str:
    lines = ["streams:"] + [f"  - code: s{i}\n    name: stream {i}" for i in range(streams)] + ["tasks:"]
    for n in range(tasks):
        dep = f"\n    depends_on: [T{n - streams}]" if n >= streams else ""
        lines.append(f"  - code: T{n}\n    title: task {n}\n    stream: s{n % streams}{dep}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(tmp_path):
    db = tmp_path / ".taskloom" / "taskloom.db"
    plan_file = tmp_path / "plan.yaml"

    def make(tasks: int = 6, streams: int = 3) -> Path:
        plan_file.write_text(plan(tasks, streams))
        out = subprocess.run([TASKLOOM, "import", str(plan_file), "--db", str(db), "--project", "demo"],
                             check=False, capture_output=True, text=True, env=child_env(), timeout=60)
        assert out.returncode == 0, out.stderr
        return db

    return make


def agent_cmd(*extra: str) -> str:
    return shlex.join([sys.executable, str(AGENT), "--mcp", "{mcp_config}", "--prompt", "{prompt_file}", *extra])


def runner_argv(db: Path, *extra: str, cmd: str | None = None) -> list[str]:
    return [TASKLOOM, "run", "--db", str(db), "--project", "demo", "--agent-cmd", cmd or agent_cmd(),
            "--backoff", "0.2", "--grace", "1", *extra]


def run(db: Path, *extra: str, cmd: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(runner_argv(db, *extra, cmd=cmd), check=False, capture_output=True, text=True, env=child_env(),
                          timeout=BOUND, cwd=cwd or db.parent.parent)


def rows(db: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def survivors(root: Path) -> list[str]:
    """Processes whose command line names a path under `root`: the run's agents and servers."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and any(str(root) in a for a in p.info["cmdline"] or []):
                found.append(f"{p.pid} {' '.join(p.info['cmdline'])[:200]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def assert_all_done_once(db: Path, tasks: int) -> None:
    done = rows(db, "SELECT code, status, claimed_by FROM tasks ORDER BY id")
    assert [r["status"] for r in done] == ["done"] * tasks, [tuple(r) for r in done]
    per_task = rows(db, "SELECT task_id, count(*) AS n FROM runs WHERE outcome = 'done' GROUP BY task_id")
    assert len(per_task) == tasks and all(r["n"] == 1 for r in per_task), [tuple(r) for r in per_task]
    assert rows(db, "SELECT count(*) AS n FROM runs WHERE ended_at IS NULL")[0]["n"] == 0


def test_a_plan_runs_to_the_end_with_one_worker_per_task(project, tmp_path):
    db = project(6)
    out = run(db, "--until-idle", "--max-workers", "3")
    assert out.returncode == 0, out.stderr
    assert "the project is finished" in out.stderr
    assert_all_done_once(db, 6)
    runs = rows(db, "SELECT * FROM runs ORDER BY id")
    assert len(runs) == 6
    for r in runs:
        log = Path(r["log_path"])
        assert log.is_file() and '"type": "result"' in log.read_text(), r["agent"]
        assert r["exit_code"] == 0 and r["pid"] and r["turns"] == 1
        assert json.loads(r["argv"])[0] == sys.executable
    assert rows(db, "SELECT count(*) AS n FROM artifact_links WHERE kind = 'task'")[0]["n"] == 6
    feed = rows(db, "SELECT kind, count(*) AS n FROM events WHERE kind LIKE 'run.%' GROUP BY kind ORDER BY kind")
    assert [tuple(r) for r in feed] == [("run.ended", 6), ("run.started", 6)], "the runs are in the activity feed"
    assert survivors(tmp_path) == []


@pytest.mark.parametrize("mode", ["crash", "exit0"])
def test_a_worker_that_ends_without_finishing_has_its_task_handed_back_and_retried(project, tmp_path, mode):
    db = project(3)
    out = run(db, "--until-idle", "--max-workers", "3", cmd=agent_cmd("--misbehave", mode, "--once-dir",
                                                                          str(tmp_path / "once")))
    assert out.returncode == 0, out.stderr
    assert_all_done_once(db, 3)
    assert [r["attempts"] for r in rows(db, "SELECT attempts FROM tasks")] == [1, 1, 1]
    back = rows(db, "SELECT exit_code, outcome, reason FROM runs WHERE outcome = 'handed_back'")
    assert len(back) == 3
    assert {r["exit_code"] for r in back} == {3 if mode == "crash" else 0}
    notes = rows(db, "SELECT body FROM notes WHERE kind = 'system'")
    assert len([n for n in notes if "The runner's worker exited with code" in n["body"]]) == 3
    assert survivors(tmp_path) == []


def test_a_worker_past_its_time_is_stopped_with_its_whole_group_even_ignoring_sigterm(project, tmp_path):
    db = project(2, streams=2)
    # Long enough for a well-behaved worker on a loaded machine: the retries must not time out too.
    out = run(db, "--until-idle", "--worker-timeout", "10", cmd=agent_cmd(
        "--misbehave", "ignore-term", "--once-dir", str(tmp_path / "once")))
    assert out.returncode == 0, out.stderr
    assert_all_done_once(db, 2)
    stopped = rows(db, "SELECT outcome, reason FROM runs WHERE outcome = 'handed_back'")
    assert len(stopped) == 2 and all("time limit" in r["reason"] for r in stopped)
    assert survivors(tmp_path) == []


def test_a_grandchild_left_behind_is_stopped_with_its_worker(project, tmp_path):
    once = tmp_path / "once"
    db = project(1, streams=1)
    out = run(db, "--until-idle", cmd=agent_cmd("--misbehave", "fork", "--once-dir", str(once)))
    assert out.returncode == 0, out.stderr
    assert_all_done_once(db, 1)
    grandchild = int((once / "T0.grandchild").read_text())
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    assert survivors(tmp_path) == []


def test_sigterm_stops_every_worker_and_gives_their_tasks_back_without_using_an_attempt(project, tmp_path):
    db = project(3)
    argv = runner_argv(db, "--max-workers", "3", cmd=agent_cmd("--misbehave", "hang"))
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path) as runner:
        try:
            wait_for_notes(db, 3)
            board = subprocess.run([TASKLOOM, "status", "--db", str(db), "--project", "demo"], check=False,
                                   capture_output=True, text=True, env=child_env(), timeout=60)
            assert "Workers (taskloom run): 3 running" in board.stdout, board.stdout + board.stderr
            runner.send_signal(signal.SIGTERM)
            _, err = runner.communicate(timeout=BOUND)
        finally:
            if runner.poll() is None:
                runner.kill()
    assert runner.returncode == 0, err
    tasks = rows(db, "SELECT status, attempts, claimed_by FROM tasks")
    assert [tuple(t) for t in tasks] == [("ready", 0, None)] * 3
    assert [r["outcome"] for r in rows(db, "SELECT outcome FROM runs")] == ["stopped"] * 3
    assert survivors(tmp_path) == []


def wait_for_notes(db: Path, n: int) -> None:
    deadline = time.monotonic() + BOUND
    while len(rows(db, "SELECT id FROM notes WHERE body LIKE 'working on%'")) < n:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)  # the runner offers a test no event: look at its database


def test_a_runner_killed_9_and_restarted_adopts_its_live_workers(project, tmp_path):
    db = project(3)
    once = tmp_path / "once"
    argv = runner_argv(db, "--max-workers", "3", "--until-idle",
                       cmd=agent_cmd("--misbehave", "wait-go", "--once-dir", str(once)))
    with subprocess.Popen(argv, stderr=subprocess.DEVNULL, env=child_env(), cwd=tmp_path) as first:
        wait_for_notes(db, 3)
        first.kill()
    workers = [r["pid"] for r in rows(db, "SELECT pid FROM runs")]
    assert len(workers) == 3 and all(psutil.pid_exists(p) for p in workers), "the workers outlive a runner killed -9"
    (dead,) = {r["runner"] for r in rows(db, "SELECT runner FROM runs")}
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path) as second:
        deadline = time.monotonic() + BOUND
        while dead in {r["runner"] for r in rows(db, "SELECT runner FROM runs")}:
            assert time.monotonic() < deadline and second.poll() is None, "the second runner adopted nothing"
            time.sleep(0.1)
        (once / "go").write_text("")
        _, err = second.communicate(timeout=BOUND)
    assert second.returncode == 0, err
    assert_all_done_once(db, 3)
    runs = rows(db, "SELECT runner, outcome FROM runs")
    assert len(runs) == 3, "no second worker was started beside an adopted one"
    assert dead not in {r["runner"] for r in runs}
    assert "the project is finished (0 started, 3 done" in err
    assert survivors(tmp_path) == []


def test_two_runners_on_one_database_never_start_two_workers_for_one_task(project, tmp_path):
    db = project(9)
    argv = runner_argv(db, "--until-idle", "--max-workers", "3")
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=BOUND)
        assert p.returncode == 0, err
    assert_all_done_once(db, 9)
    assert len(rows(db, "SELECT id FROM runs")) == 9
    assert survivors(tmp_path) == []


def test_until_idle_exits_3_when_what_is_left_cannot_run(project, tmp_path):
    db = project(3, streams=1)  # T0 <- T1 <- T2
    out = run(db, "--until-idle", cmd=agent_cmd("--misbehave", "crash"))
    # Every attempt crashes: the tasks fail for good (max_attempts), and what is left cannot run.
    assert out.returncode == 3, out.stderr
    assert "nothing more can run" in out.stderr
    (t0,) = rows(db, "SELECT id, status, attempts, max_attempts FROM tasks WHERE code = 'T0'")
    assert (t0["status"], t0["attempts"]) == ("failed", t0["max_attempts"])
    runs = rows(db, f"SELECT outcome FROM runs WHERE task_id = {t0['id']}")
    assert len(runs) == t0["max_attempts"], "restarts stop at the task's max_attempts"
    assert len(rows(db, "SELECT id FROM runs")) == t0["max_attempts"], "nothing was started for T1, T2"
    assert survivors(tmp_path) == []


def test_dry_run_prints_each_spawn_and_starts_nothing(project, tmp_path):
    db = project(2, streams=2)
    out = run(db, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "T0" in out.stdout and "T1" in out.stdout and str(AGENT) in out.stdout
    assert "TASKLOOM_TASK" in out.stdout
    assert rows(db, "SELECT count(*) AS n FROM runs")[0]["n"] == 0
    assert {r["status"] for r in rows(db, "SELECT status FROM tasks")} == {"ready"}


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-workers", "0"), ("--grace", "-1"), ("--worker-timeout", "0")]
)
def test_bad_runner_flags_get_a_clear_error(project, flag, value):
    db = project(1, streams=1)
    out = run(db, flag, value)
    assert out.returncode == 2
    assert out.stderr.startswith("taskloom: invalid_input") and "Traceback" not in out.stderr


def test_workers_and_logs_show_the_runs(project, tmp_path):
    db = project(1, streams=1)
    assert run(db, "--until-idle").returncode == 0
    env = child_env()
    workers = subprocess.run([TASKLOOM, "workers", "--all", "--json", "--db", str(db), "--project", "demo"],
                             check=False, capture_output=True, text=True, env=env, timeout=60)
    assert workers.returncode == 0, workers.stderr
    (only,) = json.loads(workers.stdout)
    assert only["outcome"] == "done" and only["task"] == "T0" and '"result"' in only["last_line"]
    logs = subprocess.run([TASKLOOM, "logs", only["agent"], "--db", str(db), "--project", "demo"],
                          check=False, capture_output=True, text=True, env=env, timeout=60)
    assert logs.returncode == 0 and '"type": "system"' in logs.stdout
    assert os.path.exists(only["log_path"])


def git(repo: Path, *argv: str) -> str:
    env = {**child_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    out = subprocess.run(["git", *argv], cwd=repo, check=True, capture_output=True, text=True, env=env, timeout=60)
    return out.stdout


def test_worktrees_give_each_worker_its_branch_and_a_retry_continues_in_the_failed_workers_tree(project, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    db = project(2, streams=2)
    once = tmp_path / "once"
    # T0's first worker crashes after committing nothing; T1's finishes at once. Each commits its file.
    cmd = agent_cmd("--commit", "--misbehave", "crash", "--once-dir", str(once))
    env = {**child_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    out = subprocess.run(runner_argv(db, "--until-idle", "--worktrees", "--workdir", str(repo), cmd=cmd),
                         check=False, capture_output=True, text=True, env=env, timeout=BOUND, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert_all_done_once(db, 2)
    for code in ("T0", "T1"):
        assert git(repo, "log", "--format=%s", f"taskloom/{code}").splitlines()[0] == code
        assert f"{code}.txt" in git(repo, "ls-tree", "--name-only", f"taskloom/{code}")
        # Finished and committed: the tree is gone, the branch is kept for a person to merge.
        assert not (repo / ".taskloom" / "worktrees" / code).exists()
    assert git(repo, "status", "--porcelain") == "", "the main checkout is untouched"
    assert survivors(tmp_path) == []


def test_over_http_each_run_gets_a_token_naming_its_worker_revoked_when_it_ends(project, tmp_path):
    from tests.server.test_transports import PROJECT, serving

    db = project(3)
    tokens = tmp_path / "tokens"
    tokens.write_text("")
    tokens.chmod(0o600)
    subprocess.run([TASKLOOM, "import", str(tmp_path / "plan.yaml"), "--db", str(db), "--project", PROJECT],
                   check=True, capture_output=True, env=child_env(), timeout=60)
    with serving(tmp_path, "http", db, env={"TASKLOOM_TOKENS_FILE": str(tokens)}) as (url, _, _):
        argv = [a if a != "demo" else PROJECT for a in runner_argv(db, "--until-idle", "--max-workers", "3")]
        out = subprocess.run([*argv, "--url", url, "--tokens", str(tokens)], check=False, capture_output=True,
                             text=True, env=child_env(), timeout=BOUND, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    done = rows(db, f"SELECT t.claimed_by, r.agent FROM tasks t JOIN projects p ON p.id = t.project_id "
                    f"JOIN runs r ON r.task_id = t.id WHERE p.name = '{PROJECT}' AND t.status = 'done'")
    assert len(done) == 3 and all(r["claimed_by"] == r["agent"] for r in done), "each token named its worker"
    assert tokens.read_text().strip() == "", "every run's token was revoked"
    configs = list((db.parent / "runs").glob("*/*/mcp.json"))
    assert len(configs) == 3 and all(json.loads(c.read_text())["mcpServers"]["taskloom"]["url"] == url
                                     for c in configs)


def test_an_agent_that_hangs_after_its_result_is_stopped_and_its_run_counts_as_done(project, tmp_path):
    db = project(1, streams=1)
    out = run(db, "--until-idle", "--result-grace", "1", cmd=agent_cmd("--misbehave", "linger"))
    assert out.returncode == 0, out.stderr
    assert_all_done_once(db, 1)
    (only,) = rows(db, "SELECT outcome, exit_code FROM runs")
    assert only["outcome"] == "done" and only["exit_code"] == -signal.SIGTERM
    assert survivors(tmp_path) == []


def test_per_stream_one_worker_drains_each_stream(project, tmp_path):
    db = project(6, streams=3)
    out = run(db, "--until-idle", "--per", "stream", "--max-workers", "3")
    assert out.returncode == 0, out.stderr
    tasks = rows(db, "SELECT t.code, t.status, t.claimed_by, s.code AS stream FROM tasks t "
                     "JOIN streams s ON s.id = t.stream_id ORDER BY t.id")
    assert {t["status"] for t in tasks} == {"done"}
    runs = rows(db, "SELECT r.agent, r.task_id, s.code AS stream, r.outcome FROM runs r "
                    "JOIN streams s ON s.id = r.stream_id")
    assert all(r["task_id"] is None and r["outcome"] == "done" for r in runs)
    by_agent = {r["agent"]: r["stream"] for r in runs}
    # Each task was done by a worker started for its own stream.
    assert all(by_agent[t["claimed_by"]] == t["stream"] for t in tasks)
    assert survivors(tmp_path) == []


def test_a_missing_agent_program_pauses_its_preset_at_the_first_start(project, tmp_path):
    db = project(3)
    out = run(db, "--until-idle", "--max-workers", "3", cmd="/nonexistent/agent --prompt {prompt_file}")
    assert out.returncode == 3, out.stderr
    assert "the command preset was paused: Cannot start the worker command '/nonexistent/agent'" in out.stderr
    assert "Install '/nonexistent/agent' or give its full path" in out.stderr
    assert [r["outcome"] for r in rows(db, "SELECT outcome FROM runs")] == ["not_started"]
    tasks = rows(db, "SELECT status, attempts FROM tasks")
    assert all(t["attempts"] == 0 for t in tasks) and "in_progress" not in {t["status"] for t in tasks}
