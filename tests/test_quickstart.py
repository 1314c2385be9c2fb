"""The README's Quick start works as written on a stock Debian or Ubuntu Python.

Such a Python is "externally managed" (PEP 668): a bare `pip install .` refuses to touch it.
The test reads the commands from README.md itself, so it breaks when the README drifts, and
runs them as a new user would, in a copy of the repository, with that Python as `python3`.
The last command must leave an MCP server that answers `tools/list` over streamable HTTP.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client

from taskloom.server.tools import PROFILES
from tests.server.test_transports import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SYSTEM_PYTHONS = ("/usr/bin/python3",)  # where Debian and Ubuntu put theirs
INSTALL_DEADLINE = 180  # seconds for the install commands: about 45 s here with pip's cache warm
FENCE = re.compile(r"^```[\w-]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def quick_start_commands(readme: str) -> list[str]:
    """The command lines of the first fenced block under `## Quick start` (comments left out)."""
    parts = re.split(r"^## Quick start[^\n]*\n", readme, maxsplit=1, flags=re.MULTILINE)
    assert len(parts) == 2, "README.md has no '## Quick start' section"
    section = re.split(r"^## ", parts[1], maxsplit=1, flags=re.MULTILINE)[0]
    fence = FENCE.search(section)
    assert fence, "the Quick start has no fenced code block"
    joined = fence["body"].replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_quick_start_parser_reads_the_first_block_of_its_section_only():
    readme = (
        "# x\n\n## Install\n\n```bash\nnot this\n```\n\n## Quick start\n\nSome text.\n\n"
        "```bash\n# a comment\npython3 -m venv .venv && \\\n  .venv/bin/pip install .\n"
        ".venv/bin/taskloom serve --transport http\n```\n\n```bash\nnor this\n```\n\n## Next\n"
    )
    assert quick_start_commands(readme) == [
        "python3 -m venv .venv &&    .venv/bin/pip install .",
        ".venv/bin/taskloom serve --transport http",
    ]


def externally_managed_python() -> Path | None:
    """A system Python 3.11+ that carries PEP 668's EXTERNALLY-MANAGED marker, if there is one."""
    probe = (
        "import os, sys, sysconfig; print(sys.version_info >= (3, 11) and "
        "os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"
    )
    for candidate in map(Path, SYSTEM_PYTHONS):
        if candidate.exists():
            out = subprocess.run([candidate, "-I", "-c", probe], check=False, capture_output=True, text=True,
                                 timeout=30)
            if out.stdout.strip() == "True":
                return candidate
    return None


def fresh_clone(dest: Path) -> Path:
    """What `pip install .` reads from a clone: the project file, the README it names, the source."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def user_env(tmp_path: Path, python: Path) -> dict[str, str]:
    """A shell whose `python3` is the system one, with no virtualenv of ours on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python)
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TASKLOOM_")}
    env["PATH"] = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    return env


async def listed_tools(url: str) -> set[str]:
    async with Client(url) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.slow
def test_the_readme_quick_start_installs_and_serves_on_an_externally_managed_python(tmp_path):
    python = externally_managed_python()
    if python is None:
        pytest.skip(f"no externally managed (PEP 668) Python 3.11+ at {', '.join(SYSTEM_PYTHONS)}")
    commands = quick_start_commands(README.read_text(encoding="utf-8"))
    assert len(commands) <= 2, f"the Quick start is two commands, not {len(commands)}: {commands}"
    *install, serve = commands
    clone = fresh_clone(tmp_path / "taskloom")
    env = user_env(tmp_path, python)

    for command in install:
        run = subprocess.run(["bash", "-c", command], check=False, cwd=clone, env=env, capture_output=True,
                             text=True, timeout=INSTALL_DEADLINE, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, f"{command!r} exited {run.returncode}:\n{run.stdout}{run.stderr}"

    # The README's server, on a free port instead of the default one (which may be taken).
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {serve} --port {port}"], cwd=clone, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_until_listening(proc, port, log)  # fails with the server's output if it exits first
        assert anyio.run(listed_tools, f"http://127.0.0.1:{port}/mcp") == set(PROFILES["all"])
        assert (clone / ".taskloom" / "taskloom.db").is_file()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
