"""A tool's return value made into its MCP result once: `structuredContent` plus the text copy.

The SDK's own conversion (`FuncMetadata.convert_result`) also renders an indent-2 JSON text of
the value, which taskloom replaces with a compact copy, so that text was built and thrown away on
every call (a quarter of what a task-sized result cost to serialise). Every taskloom tool returns
an instance of the model it declares; the SDK's check of such an instance returns it untouched
(pydantic does not revalidate an instance of the exact class), so converting it here skips no
validation. Anything else goes the SDK's way.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent


def to_result(tool: Tool, value: Any) -> Any:
    """The result of `tool` returning `value`, in the SDK's shape, with taskloom's text copy."""
    meta = tool.fn_metadata
    if meta.output_schema is not None and not meta.wrap_output and type(value) is meta.output_model:
        structured = value.model_dump(mode="json", by_alias=True)
        return CallToolResult(content=[TextContent(type="text", text=text_copy(structured))],
                              structured_content=structured)
    result = meta.convert_result(value)
    if isinstance(result, CallToolResult) and result.structured_content is not None and not result.is_error:
        result.content = [TextContent(type="text", text=text_copy(result.structured_content))]
    return result


def text_copy(structured: dict[str, Any]) -> str:
    """The text block models read: compact JSON without nulls and empties.

    The SDK's default is indent-2 JSON of everything. That is about twice the bytes and tokens,
    and it was most of what task_get cost beyond a no-op call. `structuredContent` keeps every
    field for programs.
    """
    return pydantic_core.to_json(_pruned(structured)).decode()


def _pruned(value: dict[str, Any]) -> dict[str, Any]:
    # A member is dropped when it is null, "", [] or {} as it stands; a list keeps every item.
    # Only containers are visited: the scalars of a task-sized result are most of its members.
    out = {}
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            if item:
                out[key] = _pruned(item)
        elif kind is list:
            if item:
                out[key] = _pruned_list(item)
        elif item is not None and item != "":
            out[key] = item
    return out


def _pruned_list(items: list[Any]) -> list[Any]:
    return [
        _pruned(item) if type(item) is dict else _pruned_list(item) if type(item) is list else item
        for item in items
    ]
