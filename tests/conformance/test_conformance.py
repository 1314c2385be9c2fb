"""The official MCP conformance suite against a real `taskloom serve --transport http`.

For each spec revision the suite has a requirement set for (2025-11-25: the initialize
handshake; 2026-07-28: stateless, per-request `_meta`) it runs exactly that set, scored and
not-scored scenarios alike, against a fresh database, and reads every check's result.
Every failing check must be listed in expected_failures.yml with its reason, and every listed
entry must still fail: a fix that makes one pass must take it off the list.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance.conftest import NODE_MODULES, NodeTools
from tests.server.test_transports import serving

REVISIONS = ["2025-11-25", "2026-07-28"]
EXPECTED = Path(__file__).with_name("expected_failures.yml")
REQUIREMENTS = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "requirements"
SUITE_DEADLINE = 180  # seconds for one revision's whole run (about 2 s and 10 s on a quiet machine)
SCENARIO_TIMEOUT_MS = "20000"
WIRE_SCHEMA = "wire-schema-valid"  # emitted in every scenario; a scenario-wide entry does not cover it
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True)
class Check:
    scenario: str
    id: str
    status: str
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "FAILURE"


def required_scenarios(revision: str) -> set[str]:
    """The server scenarios the requirement set runs: scored and not scored."""
    spec = yaml.safe_load((REQUIREMENTS / f"{revision}.yaml").read_text())
    return set(spec["server"]) | {e["scenario"] for e in spec.get("not_scored", []) if e["leg"] == "server"}


def read_results(out: Path) -> dict[str, list[Check]]:
    results: dict[str, list[Check]] = {}
    for folder in sorted(out.iterdir()):
        m = _RESULT_DIR.match(folder.name)
        assert m, f"unexpected result folder {folder.name}"
        scenario = m.group("scenario")
        assert scenario not in results, f"{scenario} ran twice"
        raw: list[dict[str, Any]] = json.loads((folder / "checks.json").read_text())
        results[scenario] = [Check(scenario, c["id"], c["status"], c.get("errorMessage") or "") for c in raw]
    return results


def expected_failures(revision: str) -> dict[str, str]:
    """'scenario' (its own checks) or 'scenario:check-id' -> why it is expected to fail."""
    listed = yaml.safe_load(EXPECTED.read_text()) or {}
    entries = listed.get(revision) or {}
    for key, reason in entries.items():
        assert isinstance(reason, str) and reason.strip(), f"{revision} {key}: every entry needs a reason"
    return entries


def compare(results: dict[str, list[Check]], expected: dict[str, str]) -> list[str]:
    """What is wrong: unlisted failures, and listed entries that no longer fail."""
    problems = []
    for check in (c for checks in results.values() for c in checks if c.failed):
        listed = f"{check.scenario}:{check.id}" in expected or (
            check.scenario in expected and check.id != WIRE_SCHEMA
        )
        if not listed:
            message = check.message.replace("\n", " ")[:300]
            problems.append(f"unexpected failure {check.scenario}:{check.id}: {message}")
    for key in expected:
        scenario, _, check_id = key.partition(":")
        if scenario not in results:
            problems.append(f"listed {key} names a scenario this run does not have")
            continue
        failing = {c.id for c in results[scenario] if c.failed}
        if (check_id and check_id not in failing) or not failing:
            problems.append(f"listed {key} passes now: take it off {EXPECTED.name}")
    return problems


@pytest.mark.parametrize("revision", REVISIONS)
def test_the_conformance_suite_passes_except_the_listed_expected_failures(
    tmp_path: Path, node_tools: NodeTools, revision: str
):
    out = tmp_path / "results"
    with serving(tmp_path, "http", tmp_path / "conformance.db", agent="conformance") as (url, proc, log):
        args = ["server", "--url", url, "--requirements", revision, "--timeout", SCENARIO_TIMEOUT_MS]
        run = subprocess.run(
            node_tools.command("conformance", *args, "--output-dir", str(out)),
            check=False,  # it exits non-zero on any failing check; the results are what we judge
            capture_output=True,
            text=True,
            timeout=SUITE_DEADLINE,
            env=node_tools.env(tmp_path),
            cwd=tmp_path,
        )
        assert proc.poll() is None, f"the server died during the suite:\n{log.read_text()[-3000:]}"
    output = run.stdout[-3000:] + run.stderr[-3000:]
    assert out.is_dir(), f"the suite wrote no results (exit {run.returncode}):\n{output}"

    results = read_results(out)
    assert set(results) == required_scenarios(revision), output
    problems = compare(results, expected_failures(revision))
    checks = [c for cs in results.values() for c in cs]
    failed = sum(c.failed for c in checks)
    summary = f"{revision}: {len(checks) - failed} checks passed, {failed} failed in {len(results)} scenarios"
    assert not problems, summary + "\n" + "\n".join(problems)


def test_the_expected_failures_file_names_only_revisions_we_run_and_gives_every_entry_a_reason():
    listed = yaml.safe_load(EXPECTED.read_text()) or {}
    assert set(listed) <= set(REVISIONS)
    for revision in listed:
        expected_failures(revision)


# ------------------------------------------------------------------ the bookkeeping itself (no node needed)


def results_of(*checks: tuple[str, str, str]) -> dict[str, list[Check]]:
    results: dict[str, list[Check]] = {}
    for scenario, check_id, status in checks:
        results.setdefault(scenario, []).append(Check(scenario, check_id, status, "why"))
    return results


def test_an_unlisted_failure_is_a_problem_and_a_listed_one_is_not():
    results = results_of(("a", "a-main", "FAILURE"), ("b", "b-main", "FAILURE"), ("c", "c-main", "SUCCESS"))
    assert compare(results, {"a": "fixture"}) == ["unexpected failure b:b-main: why"]
    assert compare(results, {"a": "fixture", "b:b-main": "fixture"}) == []


def test_a_listed_scenario_or_check_that_passes_now_is_a_problem():
    results = results_of(("a", "a-main", "SUCCESS"), ("b", "b-1", "FAILURE"), ("b", "b-2", "SUCCESS"))
    problems = compare(results, {"a": "fixture", "b:b-1": "fixture", "b:b-2": "fixture", "gone": "fixture"})
    assert problems == [
        "listed a passes now: take it off expected_failures.yml",
        "listed b:b-2 passes now: take it off expected_failures.yml",
        "listed gone names a scenario this run does not have",
    ]


def test_a_scenario_wide_entry_does_not_excuse_a_wire_schema_violation():
    results = results_of(("a", "a-main", "FAILURE"), ("a", WIRE_SCHEMA, "FAILURE"))
    assert compare(results, {"a": "fixture"}) == [f"unexpected failure a:{WIRE_SCHEMA}: why"]
    assert compare(results, {"a": "fixture", f"a:{WIRE_SCHEMA}": "reason"}) == []


def test_warnings_are_not_failures():
    assert compare(results_of(("a", "a-main", "WARNING"), ("a", "a-info", "INFO")), {}) == []
