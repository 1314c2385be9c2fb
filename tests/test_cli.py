"""The command line on careless input: a clear one-line error and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskloom.config import resolve_lease, resolve_size
from taskloom.errors import InvalidInput

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))


def taskloom(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TASKLOOM, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False,
        env={**os.environ, **(env or {})},
    )


def refused(run: subprocess.CompletedProcess, *needles: str) -> None:
    assert run.returncode == 2, run
    assert "Traceback" not in run.stderr, run.stderr
    line = run.stderr.strip()
    assert line.startswith("taskloom: ") and "\n" not in line, line
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize("value", [0.0, -5.0, float("inf"), float("nan")])
def test_a_lease_that_is_not_a_positive_number_of_seconds_is_refused(value):
    with pytest.raises(InvalidInput, match="lease seconds must be a positive number"):
        resolve_lease(value, env={})


def test_numbers_in_the_environment_are_checked():
    with pytest.raises(InvalidInput, match="TASKLOOM_LEASE_SECONDS='abc' is not a number"):
        resolve_lease(None, env={"TASKLOOM_LEASE_SECONDS": "abc"})
    assert resolve_lease(None, env={"TASKLOOM_LEASE_SECONDS": "30"}) == 30.0
    with pytest.raises(InvalidInput, match="is not a number"):
        resolve_size("TASKLOOM_ARTIFACT_MAX_BYTES", 10, env={"TASKLOOM_ARTIFACT_MAX_BYTES": "1.5e3x"})
    with pytest.raises(InvalidInput, match="positive number of bytes"):
        resolve_size("TASKLOOM_ARTIFACT_MAX_BYTES", 10, env={"TASKLOOM_ARTIFACT_MAX_BYTES": "-1"})


def test_serve_with_a_bad_lease_in_the_environment_exits_with_one_line(tmp_path):
    run = taskloom("serve", "--db", str(tmp_path / "t.db"), env={"TASKLOOM_LEASE_SECONDS": "abc"})
    refused(run, "TASKLOOM_LEASE_SECONDS")
    refused(taskloom("serve", "--db", str(tmp_path / "t.db"), "--lease-seconds", "-5"), "positive")


def test_importing_a_plan_that_does_not_exist_says_so(tmp_path):
    refused(taskloom("import", "--db", str(tmp_path / "t.db"), str(tmp_path / "nope.yaml")), "nope.yaml")


def test_status_of_a_database_that_does_not_exist_creates_nothing(tmp_path):
    missing = tmp_path / "no" / "such" / "x.db"
    refused(taskloom("status", "--db", str(missing)), "No taskloom database", str(missing))
    assert not (tmp_path / "no").exists()


def test_a_missing_plan_names_the_directory_it_was_looked_for_in(tmp_path):
    run = taskloom("import", "nope.yaml", "--db", str(tmp_path / "t.db"), cwd=tmp_path)
    refused(run, f"cannot read the plan nope.yaml (in {tmp_path})", "No such file")


def test_an_unknown_command_is_one_line_without_the_program_named_twice(tmp_path):
    run = taskloom("plan", cwd=tmp_path)
    refused(run, "invalid_input: argument command: invalid choice: 'plan'", "See `taskloom --help`")
    assert "taskloom: taskloom" not in run.stderr
