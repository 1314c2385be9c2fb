"""OpenCode itself (the pinned `opencode-ai`) accepts the example configs and connects with them.

`opencode debug config` shows the configuration as OpenCode resolved it: a key its schema does
not know is dropped there without a word, so each example must come back whole. `opencode mcp
list` starts each enabled local server, or reaches the remote one, and reports its state.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import ROOT, Cli, install
from tests.server.test_transports import serving

CONFIGS = ROOT / "examples" / "opencode"
TOKEN = "tl-example-token-0123456789"
# "●  ✓ taskloom connected" (then the command or URL on a line of its own).
LINE = re.compile(r"^●\s+\S+\s+(?P<name>[\w.-]+)\s+(?P<status>\S.*)$")


def mcp_list(opencode: Cli, project: Path, **env: str) -> dict[str, str]:
    out = opencode.run(project, "mcp", "list", **env)
    found = {m["name"]: m["status"].strip() for m in map(LINE.match, out.splitlines()) if m}
    assert found, f"no server in the output:\n{out}"
    return found


def servers(config: Path) -> dict[str, dict[str, Any]]:
    return json.loads(config.read_text(encoding="utf-8"))["mcp"]


@pytest.mark.parametrize("config", ["worker", "orchestrator", "http"])
def test_opencode_keeps_every_key_of_each_example_config(config, opencode, project):
    mine = install(CONFIGS / config / "opencode.json", project)
    resolved = json.loads(opencode.run(project, "debug", "config"))
    assert resolved["$schema"] == "https://opencode.ai/config.json"
    expected = servers(mine)
    for entry in expected.values():  # it shows header values masked
        entry.get("headers", {}).update(dict.fromkeys(entry.get("headers", {}), "***"))
    assert resolved["mcp"] == expected


@pytest.mark.parametrize("role", ["worker", "orchestrator"])
def test_opencode_connects_to_every_enabled_server_of_each_stdio_example(role, opencode, project):
    config = install(CONFIGS / role / "opencode.json", project)
    enabled = {name for name, entry in servers(config).items() if entry.get("enabled", True)}
    assert enabled
    assert mcp_list(opencode, project) == dict.fromkeys(enabled, "connected")
    # The relative --db is resolved in the project directory, where OpenCode starts the server.
    assert (project / ".taskloom" / "taskloom.db").is_file()


def test_opencode_reaches_a_token_protected_http_server_only_with_the_token(tmp_path, opencode, project):
    with serving(tmp_path, "http", tmp_path / "http.db", token=TOKEN) as (url, proc, _):
        config = json.loads((CONFIGS / "http" / "opencode.json").read_text(encoding="utf-8"))
        config["mcp"]["taskloom"]["url"] = url  # a free port instead of the default one
        (project / "opencode.json").write_text(json.dumps(config), encoding="utf-8")

        assert mcp_list(opencode, project, TASKLOOM_TOKEN=TOKEN) == {"taskloom": "connected"}
        assert mcp_list(opencode, project, TASKLOOM_TOKEN="not-the-token") == {"taskloom": "failed"}
        assert proc.poll() is None
