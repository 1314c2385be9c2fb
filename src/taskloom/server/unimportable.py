"""Third-party modules a server process never uses, kept from loading while the MCP SDK is imported.

The SDK's server modules import its whole web stack whatever the transport (upstream python-sdk
issue 1770). Most of it comes in through `from x import y`, which nothing outside the SDK can
defer; a few pieces are imported inside `try: ... except ImportError`, and those a process that
never uses them can refuse, without touching the SDK's code.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

# What a stdio server never uses. sse_starlette (imported by the SDK's streamable HTTP and SSE
# transports) hooks uvicorn's shutdown with `from uvicorn.main import Server` inside a
# try/except ImportError; uvicorn brings click, multiprocessing and logging.config with it:
# 2.8 MiB resident that an idle stdio server carried for an HTTP server it never runs (issue 17).
STDIO_UNUSED = ("uvicorn",)


@contextlib.contextmanager
def unimportable(*names: str) -> Iterator[None]:
    """While inside, `import NAME` (and of anything under it) raises ImportError for each name not
    already loaded; afterwards those names import normally again."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # None makes `import` raise ImportError
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
