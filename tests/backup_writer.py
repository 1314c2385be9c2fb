"""A writer for tests/test_cli_backup.py: creates tasks through the tools, each with two labels and a
description in one transaction, until it is killed.

Usage: python -m tests.backup_writer DB PROJECT NAME

Prints "ready" once it has written READY tasks, so the test starts the backup while writes go on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import Client

from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.services.app import Taskloom
from tests.conftest import call

READY = 20
LABELS = ["backup", "whole"]
DESCRIPTION = "written whole or not at all " * 8


async def main(db: str, project: str, name: str) -> None:
    app = await Taskloom.open(Settings(db_path=Path(db), project=project, default_agent=name))
    try:
        async with Client(build_server(app), mode="legacy") as c:
            n = 0
            while True:
                await call(c, "task_create", tasks=[{"title": f"{name}-{n}", "labels": LABELS, "description": DESCRIPTION}])
                n += 1
                if n == READY:
                    print("ready", flush=True)
    finally:
        await app.close()


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
