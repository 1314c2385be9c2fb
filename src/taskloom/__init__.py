"""taskloom: an MCP server where teams of LLM coding agents share one project's work."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taskloom")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
