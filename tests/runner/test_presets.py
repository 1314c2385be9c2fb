"""The agent presets: the exact argv, environment and files each spawn gets, and reading their output."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskloom.errors import TooLarge
from taskloom.runner.presets import (
    CLAUDE_MAX_TURNS,
    TOKEN_ENV,
    Connection,
    Job,
    OutputReader,
    build,
    describe,
    taskloom_command,
    write_files,
)
from taskloom.runner.settings import AgentSettings

RUN = Path("/runs/r1/w-1")
WORK = Path("/work/tree")
DB = "/data/t.db"
TL = ("/venv/bin/taskloom",)
SERVE = ["/venv/bin/taskloom", "serve", "--profile", "worker", "--db", DB, "--project", "proj"]
PROMPT = "Work on T-7: fix the parser."
TOKEN = "tl-run-token-0123456789abcdef"
URL = "http://127.0.0.1:8765/mcp"


def job(**kw) -> Job:
    return Job(**{"agent": "w-1", "task": "T-7", "stream": None, "prompt": PROMPT, "workdir": WORK,
                  "run_dir": RUN, **kw})


STDIO = Connection(db=DB, project="proj", taskloom=TL)
HTTP = Connection(db=DB, project="proj", taskloom=TL, url=URL, token=TOKEN)


def spawn_of(preset: str = "claude", conn: Connection = STDIO, env: dict | None = None, **kw):
    return build(AgentSettings(preset=preset, **kw), job(), conn, env or {"PATH": "/bin"})


# --- argv, pinned ------------------------------------------------------------------------------


def test_claude_default_argv():
    assert spawn_of("claude").argv == [
        "claude", "-p", "--mcp-config", f"{RUN}/mcp.json", "--strict-mcp-config",
        "--allowedTools", "mcp__taskloom__*", "Read", "Edit", "Write", "Glob", "Grep",
        "--output-format", "stream-json", "--verbose", "--max-turns", str(CLAUDE_MAX_TURNS),
        "--", PROMPT,
    ]
    assert CLAUDE_MAX_TURNS == 200


def test_claude_argv_with_every_setting():
    spawn = spawn_of("claude", model="opus", max_turns=12, args=("--permission-mode", "acceptEdits"),
                     allowed_tools=("Bash(git log:*)", "Read"), executable="/opt/claude")
    assert spawn.argv == [
        "/opt/claude", "-p", "--mcp-config", f"{RUN}/mcp.json", "--strict-mcp-config",
        "--allowedTools", "Bash(git log:*)", "Read", "--output-format", "stream-json", "--verbose",
        "--max-turns", "12", "--model", "opus", "--permission-mode", "acceptEdits", "--", PROMPT,
    ]
    # No tools pre-approved: the variadic flag is left out rather than given nothing.
    assert "--allowedTools" not in spawn_of("claude", allowed_tools=()).argv


def test_opencode_default_argv_and_its_config_in_the_environment():
    spawn = spawn_of("opencode")
    assert spawn.argv == ["opencode", "run", "--format", "json", "--", PROMPT]
    assert spawn_of("opencode", model="anthropic/claude-sonnet", args=("--agent", "build")).argv == [
        "opencode", "run", "--format", "json", "--model", "anthropic/claude-sonnet", "--agent", "build", "--", PROMPT,
    ]
    assert json.loads(spawn.env["OPENCODE_CONFIG_CONTENT"]) == {
        "$schema": "https://opencode.ai/config.json",
        "mcp": {"taskloom": {"type": "local", "command": SERVE, "enabled": True,
                             "environment": {"TASKLOOM_AGENT": "w-1"}}},
    }


def test_codex_default_argv_carries_the_server_as_toml_overrides():
    assert spawn_of("codex").argv == [
        "codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write",
        "-c", 'mcp_servers.taskloom.command="/venv/bin/taskloom"',
        "-c", 'mcp_servers.taskloom.args=["serve", "--profile", "worker", "--db", "/data/t.db", "--project", "proj"]',
        "-c", 'mcp_servers.taskloom.env={"TASKLOOM_AGENT" = "w-1"}',
        "-c", 'mcp_servers.taskloom.default_tools_approval_mode="approve"',
        "--", PROMPT,
    ]
    assert spawn_of("codex", model="gpt-5-codex").argv[6:8] == ["-m", "gpt-5-codex"]


def codex_overrides(argv: list[str]) -> dict:
    """Parse Codex's -c key=value overrides the way Codex does: each value as TOML."""
    doc: dict = {}
    for flag, pair in itertools.pairwise(argv):
        if flag == "-c":
            key, value = pair.split("=", 1)
            *parents, leaf = key.split(".")
            node = doc
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = tomllib.loads(f"v = {value}")["v"]
    return doc


def test_codex_overrides_stay_valid_toml_for_any_agent_name_and_path():
    odd = 'w "1" \\ \n\t\x7f\x01 é 🦀'
    spawn = build(AgentSettings(preset="codex"), job(agent=odd), Connection(db='/d b/"x".db', project="p q",
                  taskloom=("/v env/taskloom",)), {})
    server = codex_overrides(spawn.argv)["mcp_servers"]["taskloom"]
    assert server["command"] == "/v env/taskloom"
    assert server["args"] == ["serve", "--profile", "worker", "--db", '/d b/"x".db', "--project", "p q"]
    assert server["env"] == {"TASKLOOM_AGENT": odd}


def test_command_template_fills_every_placeholder_inside_single_arguments():
    template = ("my-agent --prompt={prompt} --file {prompt_file} --mcp {mcp_config} --as {agent} "
                "-t {task} -s {stream} -C {workdir} -m {model} '{{literal}}'")
    spawn = build(AgentSettings(command=template, preset="command", model="m1", args=("--extra",)),
                  job(stream="S-2"), STDIO, {})
    assert spawn.argv == [
        "my-agent", f"--prompt={PROMPT}", "--file", f"{RUN}/prompt.md", "--mcp", f"{RUN}/mcp.json",
        "--as", "w-1", "-t", "T-7", "-s", "S-2", "-C", str(WORK), "-m", "m1", "{literal}", "--extra",
    ]


def test_a_command_value_with_spaces_quotes_or_shell_syntax_stays_one_literal_argument():
    nasty = "it's \"quoted\" $(rm -rf /) ; `x` {prompt} && echo"
    spawn = build(AgentSettings(preset="command", command="agent {prompt} '{task}'"), job(prompt=nasty, task=None),
                  STDIO, {})
    assert spawn.argv == ["agent", nasty, ""]


@pytest.mark.parametrize("preset", ["claude", "opencode", "codex"])
def test_a_prompt_that_looks_like_an_option_comes_after_the_end_of_options(preset):
    spawn = build(AgentSettings(preset=preset), job(prompt="--model x: do this"), STDIO, {})
    assert spawn.argv[-2:] == ["--", "--model x: do this"]


def test_an_argument_over_the_systems_limit_is_refused_before_spawning():
    with pytest.raises(TooLarge, match="at most 131072"):
        build(AgentSettings(), job(prompt="x" * 200_000), STDIO, {})
    # A command that reads the prompt from its file is not limited by it.
    spawn = build(AgentSettings(preset="command", command="agent {prompt_file}"), job(prompt="x" * 200_000), STDIO, {})
    assert spawn.files[RUN / "prompt.md"] == "x" * 200_000


# --- MCP config, environment, files ------------------------------------------------------------


def test_the_per_run_mcp_config_starts_a_worker_server_as_this_agent():
    spawn = spawn_of("claude")
    assert spawn.cwd == WORK
    assert spawn.files[RUN / "prompt.md"] == PROMPT
    assert json.loads(spawn.files[RUN / "mcp.json"]) == {"mcpServers": {"taskloom": {
        "type": "stdio", "command": TL[0], "args": SERVE[1:], "env": {"TASKLOOM_AGENT": "w-1"}}}}


def test_a_relative_database_path_is_made_absolute_for_the_workers_own_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spawn = build(AgentSettings(), job(), Connection(db=".taskloom/t.db", project="p", taskloom=TL), {})
    server = json.loads(spawn.files[RUN / "mcp.json"])["mcpServers"]["taskloom"]
    assert server["args"][4] == str(tmp_path / ".taskloom" / "t.db")
    assert spawn.env["TASKLOOM_DB"] == str(tmp_path / ".taskloom" / "t.db")


def test_over_http_each_preset_sends_the_runs_token_and_no_preset_puts_it_in_argv():
    claude = spawn_of("claude", HTTP)
    assert json.loads(claude.files[RUN / "mcp.json"]) == {"mcpServers": {"taskloom": {
        "type": "http", "url": URL, "headers": {"Authorization": f"Bearer {TOKEN}"}}}}
    opencode = spawn_of("opencode", HTTP)
    server = json.loads(opencode.env["OPENCODE_CONFIG_CONTENT"])["mcp"]["taskloom"]
    assert server == {"type": "remote", "url": URL, "enabled": True, "oauth": False,
                      "headers": {"Authorization": f"Bearer {{env:{TOKEN_ENV}}}"}}
    codex = spawn_of("codex", HTTP)
    assert codex_overrides(codex.argv)["mcp_servers"]["taskloom"] == {
        "url": URL, "bearer_token_env_var": TOKEN_ENV, "default_tools_approval_mode": "approve"}
    for spawn in (claude, opencode, codex):
        assert not any(TOKEN in arg for arg in spawn.argv)
        assert spawn.env[TOKEN_ENV] == TOKEN and spawn.env["TASKLOOM_URL"] == URL
        assert "TASKLOOM_DB" not in spawn.env
        assert spawn.secrets == (TOKEN,)


def test_the_environment_drops_a_parent_claude_session_and_taskloom_tokens_and_names_the_job():
    base = {
        "PATH": "/bin", "HOME": "/home/u", "ANTHROPIC_API_KEY": "sk-keep",
        "CLAUDECODE": "1", "CLAUDE_CODE_ENTRYPOINT": "cli", "CLAUDE_CODE_SSE_PORT": "1234",
        "CLAUDE_CODE_OAUTH_TOKEN": "oauth-keep", "CLAUDE_CODE_USE_BEDROCK": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "TASKLOOM_TOKEN": "server-secret", "TASKLOOM_TOKENS_FILE": "/etc/tokens",
        "TASKLOOM_AGENT": "runner", "TASKLOOM_DB": "/other.db", "TASKLOOM_TASK": "T-old",
        "TASKLOOM_STREAM": "S-old", "TASKLOOM_URL": "http://old", TOKEN_ENV: "old-token",
        "TASKLOOM_LEASE_SECONDS": "90",
    }
    before = dict(base)
    env = build(AgentSettings(), job(), STDIO, base).env
    assert base == before  # the runner's own environment is left alone
    assert env == {
        "PATH": "/bin", "HOME": "/home/u", "ANTHROPIC_API_KEY": "sk-keep",
        "CLAUDE_CODE_OAUTH_TOKEN": "oauth-keep", "CLAUDE_CODE_USE_BEDROCK": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "TASKLOOM_LEASE_SECONDS": "90",
        "TASKLOOM_AGENT": "w-1", "TASKLOOM_PROJECT": "proj", "TASKLOOM_DB": DB, "TASKLOOM_TASK": "T-7",
    }
    per_stream = build(AgentSettings(), job(task=None, stream="S-1"), STDIO, base).env
    assert per_stream["TASKLOOM_STREAM"] == "S-1" and "TASKLOOM_TASK" not in per_stream


def test_files_are_written_for_this_user_only_even_over_an_existing_file(tmp_path):
    run_dir = tmp_path / "runs" / "r" / "w-1"
    run_dir.mkdir(parents=True)
    (run_dir / "mcp.json").write_text("old")
    os.chmod(run_dir / "mcp.json", 0o644)
    spawn = build(AgentSettings(), job(run_dir=run_dir), HTTP, {})
    write_files(spawn)
    for path, text in spawn.files.items():
        assert path.read_text() == text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_taskloom_command_runs_this_taskloom():
    argv = taskloom_command()
    assert Path(argv[0]).is_absolute() and os.access(argv[0], os.X_OK)


# --- dry run -----------------------------------------------------------------------------------


def test_dry_run_text_shows_the_exact_argv_env_changes_and_config_with_secrets_hidden():
    base = {"PATH": "/bin", "CLAUDECODE": "1", "MY_API_KEY": "k"}
    spawn = spawn_of("claude", HTTP, env=base)
    text = describe(spawn, base)
    argv_line = text.splitlines()[0]
    assert argv_line.startswith("argv: ") and shlex.split(argv_line.removeprefix("argv: ")) == spawn.argv
    assert f"cwd: {WORK}" in text
    assert "  TASKLOOM_AGENT=w-1" in text and "  unset CLAUDECODE" in text
    assert "PATH=" not in text  # unchanged from the runner's own
    assert TOKEN not in text and f"{TOKEN_ENV}=***" in text and '"Authorization": "Bearer ***"' in text
    full = describe(spawn)
    assert TOKEN not in full and "MY_API_KEY=***" in full and "PATH=/bin" in full


# --- output -------------------------------------------------------------------------------------

# Claude Code 2.1.332 without credentials (tests/runner/test_real_claude.py checks it live).
CLAUDE_NOT_LOGGED_IN = [
    '{"type":"system","subtype":"init","cwd":"/w","session_id":"s","tools":[],"mcp_servers":[]}',
    ('{"type":"assistant","message":{"content":[{"type":"text","text":"Not logged in · Please run /login"}]},'
    '"error":"authentication_failed"}'),
    ('{"total_cost_usd":0,"is_error":true,"num_turns":1,"subtype":"success",'
    '"result":"Not logged in · Please run /login","type":"result"}'),
]


def read(preset: str, lines: list[str]):
    reader = OutputReader(preset)
    for line in lines:
        reader.feed(line)
    return reader.outcome


def test_claude_reports_not_logged_in_as_an_error_result():
    outcome = read("claude", CLAUDE_NOT_LOGGED_IN)
    assert outcome.result_seen and outcome.error == "Not logged in · Please run /login"
    assert (outcome.cost_usd, outcome.turns) == (0.0, 1)


def test_claude_success_and_error_subtypes():
    ok = read("claude", [('{"type":"result","subtype":"success","is_error":false,"result":"Done.",'
                         '"total_cost_usd":0.0421,"num_turns":7}')])
    assert (ok.result_seen, ok.error, ok.cost_usd, ok.turns, ok.result) == (True, None, 0.0421, 7, "Done.")
    capped = read("claude", ['{"type":"result","subtype":"error_max_turns","num_turns":200}'])
    assert capped.result_seen and capped.error == "error_max_turns" and capped.turns == 200
    assert read("claude", CLAUDE_NOT_LOGGED_IN[:2]).result_seen is False


def test_codex_turn_events():
    lines = ['{"type":"thread.started","thread_id":"t"}', '{"type":"turn.started"}',
             '{"type":"error","message":"Reconnecting... 1/5"}',
             '{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"All done"}}',
             '{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":3}}']
    ok = read("codex", lines)
    assert (ok.result_seen, ok.error, ok.turns, ok.result) == (True, None, 1, "All done")
    failed = read("codex", ['{"type":"turn.started"}', '{"type":"turn.failed","error":{"message":"401 Unauthorized"}}'])
    assert failed.result_seen and failed.error == "401 Unauthorized"


def test_opencode_steps_and_errors():
    lines = [
        '{"type":"step_start","sessionID":"s","part":{"type":"step-start"}}',
        '{"type":"tool_use","part":{"tool":"taskloom_task_claim","state":{"status":"completed"}}}',
        '{"type":"step_finish","part":{"type":"step-finish","reason":"tool-calls","cost":0.01,"tokens":{}}}',
        '{"type":"text","part":{"type":"text","text":"Finished T-7."}}',
        '{"type":"step_finish","part":{"type":"step-finish","reason":"stop","cost":0.02,"tokens":{}}}',
    ]
    assert read("opencode", lines[:3]).result_seen is False
    ok = read("opencode", lines)
    assert (ok.result_seen, ok.error, ok.turns, ok.result) == (True, None, 2, "Finished T-7.")
    assert ok.cost_usd == pytest.approx(0.03)
    err = read("opencode", ['{"type":"error","error":{"name":"ProviderAuthError","data":{"message":"no key"}}}'])
    assert err.error == "no key"


def test_a_command_agent_that_speaks_claude_stream_json_is_read_too():
    assert read("command", CLAUDE_NOT_LOGGED_IN).error.startswith("Not logged in")


JUNK = ["", "plain text", "Traceback (most recent call last):", "{", "{not json}", "[1,2]", "null",
        '{"type":"result","total_cost_usd":"lots","num_turns":[1],"is_error":"yes","result":{"a":1}}',
        '{"type":"step_finish","part":"oops"}', '{"type":"step_finish","part":{"cost":"1"}}',
        '{"type":"turn.failed","error":"x"}', '{"type":"error","error":[1]}', '{"type":"item.completed","item":3}',
        "{" * 100_000, '{"a":' + "[" * 100_000, '{"type":"result","total_cost_usd":NaN}', '{"type":"result","total_cost_usd":1e999}']


@pytest.mark.parametrize("preset", ["claude", "opencode", "codex", "command", "unknown"])
def test_lines_that_are_not_the_agents_events_never_raise(preset):
    outcome = read(preset, JUNK)
    assert outcome.cost_usd is None or isinstance(outcome.cost_usd, float)


@given(st.lists(st.one_of(st.text(), st.from_regex(r'\{"type": ?"(result|error|step_finish|turn\.failed)".*', fullmatch=True))))
@pytest.mark.parametrize("preset", ["claude", "opencode", "codex"])
def test_any_text_at_all_is_read_without_an_exception(preset, lines):
    read(preset, lines)
