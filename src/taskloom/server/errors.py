"""Turning failures into tool errors an LLM can act on: a stable code, a sentence, a next step."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, TextContent
from pydantic import ValidationError

from taskloom.errors import (
    Busy,
    Internal,
    NotFound,
    Storage,
    TaskloomError,
    from_validation,
)

log = logging.getLogger(__name__)

META_KEY = "taskloom/error"


def to_result(err: TaskloomError) -> CallToolResult:
    """The text is what a model reads; `_meta` carries the same fields for programs.

    Not `structuredContent`: clients (the TypeScript SDK among them) check it against the tool's
    output schema even on errors, and would replace our message with a schema complaint.
    """
    return CallToolResult(
        content=[TextContent(type="text", text=str(err))],
        _meta={META_KEY: err.to_dict()},
        is_error=True,
    )


def error_of(result: CallToolResult) -> dict | None:
    """The structured error of a failed call, for clients written in Python (tests, examples)."""
    return (result.meta or {}).get(META_KEY) if result.is_error else None


def map_exception(tool: str, exc: Exception) -> TaskloomError:
    """The SDK wraps tool failures; find ours (or a validation error) inside."""
    cause = exc.__cause__
    if isinstance(cause, TaskloomError):
        return cause
    if isinstance(cause, ValidationError):
        return from_validation(cause)
    if cause is None and str(exc).startswith("Unknown tool"):
        return NotFound(f"There is no tool named {tool!r}.", hint="Call tools/list to see the tools.")
    log.error("tool %s crashed", tool, exc_info=cause or exc)
    return Internal(f"{tool} failed unexpectedly; nothing was changed.")


@contextmanager
def as_mcp_error() -> Iterator[None]:
    """For resource reads and prompts, which have no tool-error channel: our error becomes a
    JSON-RPC error carrying the same text (code, message, next step) and our fields in `data`."""
    try:
        yield
    except TaskloomError as err:
        rpc = INTERNAL_ERROR if isinstance(err, Busy | Storage | Internal) else INVALID_PARAMS
        raise MCPError(rpc, str(err), err.to_dict()) from None
