"""Re-ranking: after a dependency is removed, the resolver's pass brings every rank back to the
length of the longest chain of work waiting on the task, from a snapshot of the whole project."""

from __future__ import annotations

from taskloom.models import TaskSpec
from taskloom.resolver import Resolver
from taskloom.services import creation, tasks


def spec(code: str, *depends_on: str) -> TaskSpec:
    return TaskSpec(title=f"task {code}", code=code, depends_on=list(depends_on))


async def ranks(app, codes: str = "ABCDE") -> dict[str, int]:
    return {code: (await app.read(tasks.get, code)).task.rank for code in codes}


async def test_removing_a_dependency_shrinks_ranks_upstream_on_the_next_resolver_pass(app):
    # A <- B <- C <- D, and E waits for B: four tasks of work wait on A.
    await app.write(creation.create_tasks, [spec("A"), spec("B", "A"), spec("C", "B"), spec("D", "C"), spec("E", "B")])
    assert await ranks(app) == {"A": 4, "B": 3, "C": 2, "D": 1, "E": 1}
    await app.write(tasks.update, "C", {"depends_on": []})
    await Resolver(app).run_once()
    # A <- B <- E and C <- D: the longest chains now.
    assert await ranks(app) == {"A": 3, "B": 2, "C": 2, "D": 1, "E": 1}


async def test_moving_a_dependency_deeper_lifts_ranks_upstream_by_the_next_resolver_pass(app):
    await app.write(creation.create_tasks, [spec("A"), spec("B", "A"), spec("C", "A")])
    assert await ranks(app, "ABC") == {"A": 2, "B": 1, "C": 1}
    await app.write(tasks.update, "C", {"depends_on": ["B"]})
    await Resolver(app).run_once()
    assert await ranks(app, "ABC") == {"A": 3, "B": 2, "C": 1}
