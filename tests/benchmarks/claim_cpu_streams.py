"""Service-level CPU per claim in a project whose tasks sit in streams (the claim benchmarks'
databases have none, so they never see a claim settle its stream).

3,000 tasks in 20 streams; 100 warm-up claims, then 2,000 timed, each `work.claim` in its own
`app.write`, no MCP. Compare checkouts by running it with each one's src first, in turn:

    for side in DIR .; do PYTHONPATH=$side/src .venv/bin/python -m tests.benchmarks.claim_cpu_streams; done
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio

TASKS, STREAMS, WARMUP, TIMED = 3000, 20, 100, 2000


async def main() -> None:
    from taskloom.config import Settings
    from taskloom.models import StreamSpec, TaskSpec
    from taskloom.services import creation, planning, work
    from taskloom.services.app import Taskloom

    with tempfile.TemporaryDirectory() as d:
        app = await Taskloom.open(Settings(db_path=Path(d) / "claims.db", project="bench"))
        try:
            await app.write(planning.upsert_streams, [StreamSpec(code=f"S{i}") for i in range(STREAMS)])
            specs = [TaskSpec(title=f"task {i}", code=f"T{i}", stream=f"S{i % STREAMS}") for i in range(TASKS)]
            await app.write(creation.create_tasks, specs)
            for _ in range(WARMUP):
                await app.write(work.claim, agent="bench")
            start = time.process_time()
            for _ in range(TIMED):
                if not (await app.write(work.claim, agent="bench")).claimed:
                    raise RuntimeError("ran out of ready tasks")
            per = (time.process_time() - start) / TIMED
        finally:
            await app.close()
    print(f"CPU per claim, tasks in streams, service level: {per * 1e6:.0f} us")


if __name__ == "__main__":
    anyio.run(main)
