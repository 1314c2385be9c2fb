"""A tool's return value made into its MCP result once: `structuredContent` plus the text copy.

The SDK's own conversion (`FuncMetadata.convert_result`) also renders an indent-2 JSON text of
the value, which taskloom replaces with a compact copy, so that text was built and thrown away on
every call (a quarter of what a task-sized result cost to serialise). Every taskloom tool returns
an instance of the model it declares; the SDK's check of such an instance returns it untouched
(pydantic does not revalidate an instance of the exact class), so converting it here skips no
validation. Anything else goes the SDK's way.

Such a result is a `Once`: its `structuredContent` is already JSON-ready, so its wire form
(`Once.wire`) takes it as it is. The SDK's dump of a result model walks every member of it once
more, before its own check of the result (which still runs: runner._serialize) and the JSON.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent

from taskloom.models.forms import Formed


class Once(CallToolResult):
    """A tool's result built by `to_result` from the model the tool declared."""

    @classmethod
    def of(cls, text: str, structured: dict[str, Any]) -> Once:
        """What `model_construct(content=[TextContent(text)], structured_content=structured)` makes,
        at a fifth of its cost: both parts were made from a validated model, so there is nothing
        to check, and model_construct's walk over every field's default was ~10 us a model.
        tests/server/test_results.py holds the two equal, field for field."""
        content = _bare(TextContent, {"type": "text", "text": text, "annotations": None, "meta": None}, _TEXT_SET)
        fields = {"meta": None, "content": [content], "structured_content": structured, "is_error": False,
                  "result_type": "complete"}
        return _bare(cls, fields, _ONCE_SET)

    def wire(self) -> dict[str, Any]:
        """What the SDK's dump of this result gives (`runner._dump_result`), without a second
        pass over `structuredContent`: a JSON-mode dump of a model, it is JSON as it is."""
        out = self.model_dump(by_alias=True, mode="json", exclude_none=True, exclude=_STRUCTURED)
        out["structuredContent"] = self.structured_content
        return out


_STRUCTURED = {"structured_content"}
_TEXT_SET = frozenset({"type", "text"})
_ONCE_SET = frozenset({"content", "structured_content"})


def _bare(cls: type[Any], fields: dict[str, Any], fields_set: frozenset[str]) -> Any:
    # pydantic's own model_construct, less its per-field defaults loop: the same four slots.
    made = cls.__new__(cls)
    object.__setattr__(made, "__dict__", fields)
    object.__setattr__(made, "__pydantic_fields_set__", set(fields_set))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def to_result(tool: Tool, value: Any) -> Any:
    """The result of `tool` returning `value`, in the SDK's shape, with taskloom's text copy."""
    meta = tool.fn_metadata
    if meta.output_schema is not None and not meta.wrap_output and type(value) is meta.output_model:
        # A formed answer (task_get, a claim) carries the dicts it was validated from: its dump.
        structured = value.take_form() if isinstance(value, Formed) else None
        if structured is None:
            structured = value.model_dump(mode="json", by_alias=True)
        return Once.of(text_copy(structured), structured)
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
    # Most members are non-empty, so truthiness decides first; of the falsy ones 0, 0.0 and False stay.
    out = {}
    for key, item in value.items():
        if item:
            kind = type(item)
            out[key] = _pruned(item) if kind is dict else _pruned_list(item) if kind is list else item
        elif item is not None and type(item) not in _EMPTIES:
            out[key] = item
    return out


_EMPTIES = (str, list, dict)  # falsy members of these types are empty, and dropped


def _pruned_list(items: list[Any]) -> list[Any]:
    return [
        _pruned(item) if type(item) is dict else _pruned_list(item) if type(item) is list else item
        for item in items
    ]
