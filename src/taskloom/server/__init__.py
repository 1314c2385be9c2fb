"""The MCP face of taskloom: tools are thin adapters over `taskloom.services`."""

from taskloom.server.build import build_server

__all__ = ["build_server"]
