"""The runner's agent settings: where they come from, which win, and every way to get them wrong."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from taskloom.errors import InvalidInput
from taskloom.models import Plan
from taskloom.runner import settings
from taskloom.runner.settings import DEFAULT_ALLOWED_TOOLS, AgentSettings, load, read_plan_runner
from tests.test_cli import refused, taskloom


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runner.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_any_settings_every_task_gets_the_built_in_claude_preset():
    config = load()
    assert config.for_task(None) == config.for_task("reviewer", ["docs"]) == AgentSettings()
    assert AgentSettings().preset == "claude" and AgentSettings().allowed_tools == DEFAULT_ALLOWED_TOOLS


def test_every_agent_setting_is_checked_and_has_an_example():
    names = {f.name for f in fields(AgentSettings)}
    assert set(settings.CHECKS) == names == set(settings.EXAMPLES)


def test_a_toml_file_gives_defaults_roles_and_labels(tmp_path):
    path = toml(tmp_path, """
[defaults]
model = "sonnet"
max_turns = 40
timeout = 1800

[roles.reviewer]
model = "opus"
args = ["--permission-mode", "plan"]

[labels.docs]
preset = "opencode"
model = "anthropic/claude-haiku"
""")
    config = load(path)
    assert config.for_task(None) == AgentSettings(model="sonnet", max_turns=40, timeout=1800.0)
    assert config.for_task("reviewer") == AgentSettings(
        model="opus", max_turns=40, timeout=1800.0, args=("--permission-mode", "plan"))
    assert config.for_task("coder", ["docs"]) == AgentSettings(
        preset="opencode", model="anthropic/claude-haiku", max_turns=40, timeout=1800.0)


def test_precedence_is_command_line_then_label_then_role_then_defaults_then_built_in():
    runner = {
        "defaults": {"model": "d", "max_turns": 1, "timeout": 1, "args": ["--d"]},
        "roles": {"r": {"model": "r", "max_turns": 2, "timeout": 2}},
        "labels": {"l": {"model": "l", "max_turns": 3}},
    }
    config = load(plan_runner=runner, overrides={"model": "cli"})
    got = config.for_task("r", ["l"])
    # Each key comes from the highest layer that sets it; the rest fall through.
    assert (got.model, got.max_turns, got.timeout, got.args, got.preset) == ("cli", 3, 2.0, ("--d",), "claude")
    assert load(plan_runner=runner).for_task("r", ["l"]).model == "l"
    assert load(plan_runner=runner).for_task("r", ["other"]).model == "r"
    assert load(plan_runner=runner).for_task("nobody", []).model == "d"
    assert load().for_task("r", ["l"]).model is None


def test_the_first_of_the_tasks_labels_with_a_section_wins_in_the_tasks_order():
    config = load(plan_runner={"labels": {"a": {"model": "A"}, "b": {"model": "B"}}})
    assert config.for_task(None, ["x", "b", "a"]).model == "B"
    assert config.for_task(None, ["a", "b"]).model == "A"


def test_a_plans_runner_section_wins_over_the_toml_file_key_by_key(tmp_path):
    path = toml(tmp_path, '[defaults]\nmodel = "from-toml"\nmax_turns = 9\n[roles.r]\ntimeout = 5\n')
    config = load(path, {"defaults": {"model": "from-plan"}, "roles": {"r": {"max_turns": 4}}})
    assert (config.default.model, config.default.max_turns) == ("from-plan", 9)
    assert (config.for_task("r").timeout, config.for_task("r").max_turns) == (5.0, 4)


def test_a_command_means_the_command_preset_in_a_file_and_on_the_command_line():
    config = load(plan_runner={"labels": {"sh": {"command": "aider --message {prompt}"}}})
    assert config.for_task(None, ["sh"]).preset == "command"
    assert config.for_task(None).preset == "claude"
    cli = load(overrides={"command": "my-agent {prompt_file}", "model": None, "preset": None})
    assert cli.for_task("any") == AgentSettings(preset="command", command="my-agent {prompt_file}")


def test_command_line_overrides_of_none_are_flags_not_given():
    config = load(plan_runner={"defaults": {"model": "m"}}, overrides={"model": None, "max_turns": 7})
    assert (config.for_task(None).model, config.for_task(None).max_turns) == ("m", 7)


def test_a_plan_file_carries_its_runner_section_beside_the_plan(tmp_path):
    data = {"tasks": [{"key": "a", "title": "A", "role": "coder"}], "runner": {"roles": {"coder": {"model": "m"}}}}
    plan = Plan.model_validate(data)
    assert plan.runner == data["runner"] and len(plan.tasks) == 1
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert read_plan_runner(path) == data["runner"]
    assert load(plan_runner=read_plan_runner(path), plan_source=path).for_task("coder").model == "m"
    (tmp_path / "bare.json").write_text('{"tasks": []}', encoding="utf-8")
    assert read_plan_runner(tmp_path / "bare.json") is None


def test_taskloom_import_takes_a_plan_with_a_runner_section_and_refuses_a_bad_one(tmp_path):
    db = str(tmp_path / "t.db")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"tasks": [{"key": "a", "title": "A"}], "runner": {"defaults": {"model": "m"}}}))
    run = taskloom("import", "--db", db, "--project", "p", str(good))
    assert run.returncode == 0 and "1 tasks created" in run.stdout, run
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tasks": [{"key": "b", "title": "B"}], "runner": {"defaults": {"modle": "m"}}}))
    refused(taskloom("import", "--db", db, "--project", "p", str(bad)), "bad.yaml: runner: defaults.modle", "model")
    # Nothing of the refused plan was imported.
    status = taskloom("status", "--db", db, "--project", "p", "--json")
    assert '"total": 1' in status.stdout, status


BAD_PLANS = [
    # (runner section, key named, words of the message)
    ({"defaults": {"modle": "x"}}, "defaults.modle", ["is not a setting", "did you mean model"]),
    ({"default": {}}, "default", ["is not a section", "did you mean defaults"]),
    ({"roles": {"r": {"preset": "gpt"}}}, "roles.r.preset", ["one of claude, opencode, codex, command"]),
    ({"defaults": {"max_turns": "5"}}, "defaults.max_turns", ["whole number"]),
    ({"defaults": {"max_turns": 0}}, "defaults.max_turns", ["whole number"]),
    ({"defaults": {"max_turns": True}}, "defaults.max_turns", ["whole number"]),
    ({"defaults": {"timeout": -1}}, "defaults.timeout", ["seconds above 0"]),
    ({"defaults": {"timeout": "30m"}}, "defaults.timeout", ["seconds above 0"]),
    ({"defaults": {"args": "--verbose"}}, "defaults.args", ["list of non-empty strings"]),
    ({"defaults": {"allowed_tools": ["Read", 3]}}, "defaults.allowed_tools", ["list of non-empty strings"]),
    ({"defaults": {"model": ""}}, "defaults.model", ["non-empty string"]),
    ({"defaults": {"executable": 5}}, "defaults.executable", ["non-empty string"]),
    ({"defaults": {"preset": "command"}}, "defaults", ["preset \"command\"", "no layer gives it a command"]),
    ({"roles": {"r": {"preset": "command"}}}, "roles.r", ["no layer gives it a command"]),
    ({"labels": {"l": {"preset": "command"}}}, "labels.l", ["no layer gives it a command"]),
    ({"labels": {"l": {"command": "a {foo}"}}}, "labels.l.command", ["unknown placeholder {foo}"]),
    ({"labels": {"l": {"command": "a {prompt!r}"}}}, "labels.l.command", ["unknown placeholder {prompt!r}"]),
    ({"labels": {"l": {"command": "a {task:>9}"}}}, "labels.l.command", ["unknown placeholder {task:>9}"]),
    ({"labels": {"l": {"command": "a {prompt.upper}"}}}, "labels.l.command", ["unknown placeholder"]),
    ({"labels": {"l": {"command": "a 'unclosed"}}}, "labels.l.command", ["cannot be split"]),
    ({"labels": {"l": {"command": "a {"}}}, "labels.l.command", ["stray brace"]),
    ({"labels": {"l": {"command": "   "}}}, "labels.l.command", ["non-empty"]),
    ({"labels": {"l": {"command": "a", "preset": "claude"}}}, "labels.l.command", ["only used by preset"]),
    ({"roles": ["r"]}, "roles", ["must map each role"]),
    ({"roles": {"r": "opus"}}, "roles.r", ["must be a table of settings"]),
    (["defaults"], "", ["must be a table with defaults, roles, labels"]),
]


@pytest.mark.parametrize(("runner", "key", "words"), BAD_PLANS)
def test_each_mistake_in_a_plans_runner_section_names_the_file_and_the_key(runner, key, words):
    with pytest.raises(InvalidInput) as caught:
        load(plan_runner=runner, plan_source="plan.yaml")
    err = caught.value
    assert err.code == "invalid_input"
    assert err.message.startswith("plan.yaml: runner"), err.message
    assert key in err.message, err.message
    for word in words:
        assert word in str(err), str(err)
    assert err.hint != InvalidInput.default_hint  # says what to write instead
    assert err.details["file"] == "plan.yaml: runner"


def test_a_toml_mistake_names_the_toml_file_and_its_key(tmp_path):
    path = toml(tmp_path, '[roles.reviewer]\nmax_turn = 3\n')
    with pytest.raises(InvalidInput, match=r"runner\.toml: roles\.reviewer\.max_turn is not a setting") as caught:
        load(path)
    assert "did you mean max_turns" in caught.value.hint


def test_a_toml_file_that_does_not_parse_or_exist_is_refused_with_where(tmp_path):
    with pytest.raises(InvalidInput, match=r"runner\.toml is not valid TOML: .*line 2"):
        load(toml(tmp_path, '[defaults]\nmodel = sonnet\n'))
    with pytest.raises(InvalidInput, match=r"Cannot read the runner settings .*missing\.toml"):
        load(tmp_path / "missing.toml")


@pytest.mark.parametrize(("overrides", "words"), [
    ({"preset": "gpt"}, ["the command line: preset must be one of"]),
    ({"max_turns": -3}, ["the command line: max_turns"]),
    ({"preset": "command"}, ["the command line: defaults uses preset \"command\""]),
    ({"command": "x {nope}"}, ["the command line: command has an unknown placeholder {nope}"]),
    ({"colour": "red"}, ["the command line: colour is not a setting"]),
])
def test_bad_command_line_overrides_are_refused_too(overrides, words):
    with pytest.raises(InvalidInput) as caught:
        load(overrides=overrides)
    for word in words:
        assert word in caught.value.message, caught.value.message


def test_a_label_choosing_the_command_preset_needs_a_command_from_some_layer():
    runner = {"roles": {"r": {"model": "m"}}, "labels": {"l": {"preset": "command"}}}
    with pytest.raises(InvalidInput, match="labels.l"):
        load(plan_runner=runner)
    config = load(plan_runner=runner, overrides={"command": "agent {prompt}"})
    assert config.for_task("r", ["l"]) == AgentSettings(preset="command", command="agent {prompt}", model="m")
