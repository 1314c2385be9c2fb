# Interim poll-only listener, replaced by the LISTEN/NOTIFY one (h-pglisten) before the backend is used.
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Listener:
    def __init__(
        self,
        conninfo: str,
        *,
        channel: str = "taskloom",
        probe: Callable[[], Awaitable[int]],
        poll_listening: float = 0.05,
        **_: object,
    ) -> None:
        self._probe, self._poll, self._last, self._local = probe, poll_listening, None, False
        self.listening = False

    async def start(self) -> None:
        self._last = await self._probe()

    def committed(self) -> None:
        self._local = True

    async def wait(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            if self._local:
                self._local = False
                return True
            v = await self._probe()
            if v != self._last:
                self._last = v
                return True
            if loop.time() >= end:
                return False
            await asyncio.sleep(min(self._poll, max(0, end - loop.time())))

    async def close(self) -> None:
        pass
