"""The MCP face of taskloom: tools are thin adapters over `taskloom.services`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.server.build import build_server

__all__ = ["build_server"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, not with the package: `taskloom token` imports server.auth, and the
    # MCP SDK behind build_server costs a second of CPU to import.
    if name == "build_server":
        from taskloom.server.build import build_server

        return build_server
    raise AttributeError(f"module 'taskloom.server' has no attribute {name!r}")
