"""Claude Code itself (the pinned `@anthropic-ai/claude-code`) connects to taskloom as the examples say.

`claude mcp list` starts each configured server, or reaches it over HTTP, and reports whether
the MCP handshake succeeded. Every case runs in its own project directory on a fresh database.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.clients.conftest import ROOT, Cli, install
from tests.server.test_transports import serving

CONFIGS = ROOT / "examples" / "claude-code"
TOKEN = "tl-example-token-0123456789"
CONNECTED = "✔ Connected"
# "taskloom: taskloom serve --profile worker ... - ✔ Connected"; the status opens with a symbol.
LINE = re.compile(r"^(?P<name>[\w.-]+): (?P<target>.+?) - (?P<status>[^\w\s].*)$")


def mcp_list(claude: Cli, project: Path, **env: str) -> dict[str, tuple[str, str]]:
    """Each server's (target, status) as `claude mcp list` reports them."""
    out = claude.run(project, "mcp", "list", **env)
    found = {m["name"]: (m["target"], m["status"]) for m in map(LINE.match, out.splitlines()) if m}
    assert found, f"no server in the output:\n{out}"
    return found


def new_project(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def http_config(project: Path, url: str) -> None:
    """The HTTP example, pointed at this test's server (a free port instead of the default one)."""
    config = json.loads((CONFIGS / "http" / ".mcp.json").read_text(encoding="utf-8"))
    config["mcpServers"]["taskloom"]["url"] = url
    (project / ".mcp.json").write_text(json.dumps(config), encoding="utf-8")


@pytest.mark.parametrize("role", ["worker", "orchestrator"])
def test_claude_code_connects_to_the_stdio_server_of_each_example_config(role, claude, project):
    install(CONFIGS / role / ".mcp.json", project)
    [(name, (target, status))] = mcp_list(claude, project).items()
    assert name == "taskloom"
    assert target.startswith(f"taskloom serve --profile {role} "), target
    assert status == CONNECTED
    # The relative --db is resolved in the project directory, where Claude Code starts the server.
    assert (project / ".taskloom" / "taskloom.db").is_file()


def test_claude_code_reaches_a_token_protected_http_server_only_with_the_token(tmp_path, claude):
    with serving(tmp_path, "http", tmp_path / "http.db", token=TOKEN) as (url, proc, _):
        # The example file: the header comes from TASKLOOM_TOKEN in the client's environment.
        example = new_project(tmp_path, "example")
        http_config(example, url)
        assert mcp_list(claude, example, TASKLOOM_TOKEN=TOKEN)["taskloom"] == (f"{url} (HTTP)", CONNECTED)
        wrong = mcp_list(claude, example, TASKLOOM_TOKEN="not-the-token")["taskloom"][1]
        assert wrong.startswith("✘") and "401" in wrong, wrong

        # `claude mcp add --transport http`, as the README says, with and without the header.
        with_header = new_project(tmp_path, "with-header")
        claude.run(with_header, "mcp", "add", "--transport", "http", "taskloom", url,
                "--header", f"Authorization: Bearer {TOKEN}")
        assert mcp_list(claude, with_header)["taskloom"][1] == CONNECTED
        without = new_project(tmp_path, "without-header")
        claude.run(without, "mcp", "add", "--transport", "http", "taskloom", url)
        refused = mcp_list(claude, without)["taskloom"][1]
        assert refused.startswith("✘") and "401" in refused, refused
        assert proc.poll() is None


def test_claude_code_added_with_mcp_add_reaches_an_open_http_server(tmp_path, claude, project):
    with serving(tmp_path, "http", tmp_path / "open.db") as (url, proc, _):
        claude.run(project, "mcp", "add", "--transport", "http", "taskloom", url)
        assert mcp_list(claude, project)["taskloom"] == (f"{url} (HTTP)", CONNECTED)
        assert proc.poll() is None
