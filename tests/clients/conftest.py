"""The real coding-agent CLIs (Claude Code, OpenCode) from the repo's package.json, or a clear skip.

`npm ci` at the repo root installs them. CI sets TASKLOOM_REQUIRE_NODE=1, so there a missing
install fails the run instead of silently skipping it (as in tests/conformance).

Each CLI runs with HOME (and the XDG folders) in the test's temp dir, so it neither reads nor
writes the user's own configuration, with its telemetry and update checks off, as its own
process group: the group is killed afterwards, with any server it left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
# OpenCode is pinned as its linux-x64 binary package ("baseline": no AVX2 needed), not as
# `opencode-ai`: this registry lacks ten of the platform packages `opencode-ai` names, and
# `npm ci` refuses a lock file without them. It is the binary `opencode-ai` would run here.
EXECUTABLES = {
    "claude": NODE_MODULES / ".bin" / "claude",
    "opencode": NODE_MODULES / "opencode-linux-x64-baseline" / "bin" / "opencode",
}
REQUIRE = "TASKLOOM_REQUIRE_NODE"
CLI_DEADLINE = 120  # seconds for one `mcp list`: about 10 s here, the servers' start-up included
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Left out of the CLIs' environment: our own settings (each config says what it means) and any
# credentials or settings of a coding client the tests happen to run under.
DROP_PREFIXES = ("TASKLOOM_", "ANTHROPIC_", "CLAUDE", "OPENCODE", "MCP_")


@dataclass(frozen=True)
class Cli:
    exe: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROP_PREFIXES)}
        # The configs name `taskloom`: the console script next to this Python comes first.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(self.home)
        for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                         ("XDG_CACHE_HOME", ".cache"), ("XDG_STATE_HOME", ".local/state")):
            env[var] = str(self.home / sub)
        env.update(
            NO_COLOR="1",
            DISABLE_TELEMETRY="1",
            DISABLE_AUTOUPDATER="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            OPENCODE_DISABLE_AUTOUPDATE="1",
            OPENCODE_DISABLE_MODELS_FETCH="1",
            OPENCODE_DISABLE_DEFAULT_PLUGINS="1",
            OPENCODE_DISABLE_LSP_DOWNLOAD="1",
        )
        env.update(extra)
        return env

    def run(self, cwd: Path, *args: str, **env: str) -> str:
        """Run the CLI to completion in `cwd`; return its output without colours."""
        proc = subprocess.Popen(
            [str(self.exe), *args], cwd=cwd, env=self.env(**env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=CLI_DEADLINE)
        finally:
            kill_group(proc)
        assert proc.returncode == 0, f"{self.exe.name} {' '.join(args)} exited {proc.returncode}:\n{out}"
        return ANSI.sub("", out)


def kill_group(proc: subprocess.Popen) -> None:
    """End the CLI and everything it started (the stdio servers), whether or not it exited."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(10)


def find_cli(name: str) -> Path:
    exe = EXECUTABLES[name]
    if not exe.exists():
        why = f"{name} is not installed ({exe.relative_to(ROOT)} missing): run `npm ci` in {ROOT}"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {why}")
        pytest.skip(why)
    return exe


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory (not a git repository: OpenCode would install plugins there)."""
    path = tmp_path / "project"
    path.mkdir()
    return path


def claude_cli(home: Path) -> Cli:
    """The pinned Claude Code with a throwaway HOME that approves a project's .mcp.json servers."""
    # `claude mcp list` leaves a project's .mcp.json servers "Pending approval" until someone
    # approves them in an interactive session. This user setting approves them all; a project's
    # own .claude/settings.json is honoured only once its folder is trusted, interactively too.
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text('{"enableAllProjectMcpServers": true}\n')
    return Cli(find_cli("claude"), home)


@pytest.fixture
def claude(tmp_path: Path) -> Cli:
    return claude_cli(tmp_path / "home")


@pytest.fixture
def opencode(tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(find_cli("opencode"), home)


def install(config: Path, project: Path) -> Path:
    """Copy an example config into a project directory, as a user would."""
    return Path(shutil.copy(config, project / config.name))
