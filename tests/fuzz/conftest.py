"""One seeded rig per module: building the server and its plan costs more than a hundred calls.

The event loop is module-wide too, because the rig's connections belong to the loop that opened
them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fuzz.rig import Rig, seed_plan


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def rig() -> AsyncIterator[Rig]:
    async with Rig.open(seed_plan) as rig:
        yield rig
