"""`taskloom report` as a person runs it, through main() on a real SQLite file: Markdown to stdout
or a file, `--save` storing it as an artifact linked to the sprint, and bad flags as one line with
exit code 2. The report's content is pinned in tests/services/test_completion.py."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from mcp import Client

from taskloom.cli.main import main
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call

PROJECT = "cli"


async def _with_client(tmp_path: Path, steps) -> object:
    app = await Taskloom.open(Settings(db_path=tmp_path / "t.db", project=PROJECT, default_agent="boss"))
    try:
        async with Client(build_server(app), mode="legacy") as client:
            return await steps(client)
    finally:
        await app.close()


async def _sprint(client) -> None:
    await call(client, "sprint_create", code="S1", title="First")
    await call(client, "task_create", tasks=[
        {"code": "A", "title": "Schema", "sprint": "S1"},
        {"code": "B", "title": "Routes", "sprint": "S1", "depends_on": ["A"]},
        {"code": "C", "title": "Elsewhere"},
    ])
    for code in ("A", "B"):
        await call(client, "task_claim", task=code, agent="alice")
        await call(client, "task_done", task=code, summary=f"{code} shipped", agent="alice")


@pytest.fixture
def report(tmp_path, monkeypatch, capsys):
    """Run `taskloom report ...` on a project with a done sprint; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("TASKLOOM_")]:
        monkeypatch.delenv(name)
    anyio.run(_with_client, tmp_path, _sprint)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["report", *args, "--db", str(tmp_path / "t.db"), "--project", PROJECT])
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_report_prints_the_sprints_markdown_to_stdout(report):
    code, out, err = report("--sprint", "S1")
    assert (code, err) == (0, "")
    assert out.startswith("# Completion report: sprint S1: First\n")
    changelog = out.split("\n## Changelog\n", 1)[1]
    assert [line.split(" (")[0] for line in changelog.splitlines() if line[:1].isdigit()] == [
        "1. **A** Schema", "2. **B** Routes"
    ]
    assert "Elsewhere" not in out  # C is not in the sprint


def test_save_stores_the_report_as_markdown_linked_to_the_sprint_and_o_writes_the_same_text(report, tmp_path):
    code, out, err = report("--sprint", "S1", "-o", "r.md", "--save")
    assert code == 0 and out == ""
    written = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert written.startswith("# Completion report: sprint S1")
    assert "wrote r.md" in err and "linked to sprint:S1" in err

    async def stored(client):
        [artifact] = (await call(client, "artifacts_list", sprint="S1"))["artifacts"]
        text = (await call(client, "artifacts_get", artifact=artifact["sha256"]))["text"]
        return artifact, text

    artifact, text = anyio.run(_with_client, tmp_path, stored)
    assert artifact["media_type"] == "text/markdown" and artifact["links"] == ["sprint:S1"]
    assert artifact["name"].startswith("report-sprint-S1-") and artifact["name"].endswith(".md")
    assert text == written


@pytest.mark.parametrize(
    "args, says",
    [
        (["--sprint", "S1", "--stream", "api"], "argument --stream: not allowed with argument --sprint"),
        (["--sprint", "S9", "--save"], "not_found: Sprint S9 does not exist in project cli"),
        (["--stream", "nope"], "not_found: Stream nope does not exist in project cli"),
        (["-o", "no/such/dir/r.md"], "invalid_input: Cannot write the report to no/such/dir/r.md"),
    ],
)
def test_bad_flags_are_one_line_with_exit_code_2_and_store_nothing(report, tmp_path, args, says):
    code, out, err = report(*args)
    assert code == 2 and out == ""
    assert err.startswith("taskloom: ") and says in err and err.count("\n") == 1 and "Traceback" not in err

    async def artifacts(client):
        return (await call(client, "artifacts_list"))["total"]

    assert anyio.run(_with_client, tmp_path, artifacts) == 0
