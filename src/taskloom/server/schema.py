"""Compact tool schemas: every byte of tools/list is paid for in each agent's context.

Pydantic titles every model and field ("Title": "Priority"), and spells optional inputs as
`anyOf: [X, null]` with `default: null`. Neither tells an LLM anything the property name and
`required` do not. Output schemas keep their null branches (clients validate results with them), spelt shorter.
"""

from __future__ import annotations

from typing import Any

_NULL = {"type": "null"}


def compact(schema: dict[str, Any], *, is_input: bool) -> dict[str, Any]:
    return _node(schema, is_input)


def _node(node: Any, is_input: bool) -> Any:
    if isinstance(node, list):
        return [_node(n, is_input) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _node(sub, is_input) for name, sub in value.items()}
        else:
            out[key] = _node(value, is_input)
    if is_input:
        return _drop_optional_null(out)
    out.pop("default", None)  # a result's defaults say nothing to its reader
    return _type_list(out)


def _drop_optional_null(node: dict[str, Any]) -> dict[str, Any]:
    """`{anyOf: [X, null], default: null}` says "optional X"; not being required says that already."""
    branches = node.get("anyOf")
    if not (isinstance(branches, list) and _NULL in branches and node.get("default", 0) is None):
        return node
    rest = [b for b in branches if b != _NULL]
    out = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
    if len(rest) == 1:
        return {**rest[0], **out}
    return {**out, "anyOf": rest}


def _type_list(node: dict[str, Any]) -> dict[str, Any]:
    """`{anyOf: [{type: string}, {type: null}]}` is `{type: [string, null]}`, at a third of the bytes."""
    branches = node.get("anyOf")
    if not (isinstance(branches, list) and all(isinstance(b, dict) and set(b) == {"type"} for b in branches)):
        return node
    out = {k: v for k, v in node.items() if k != "anyOf"}
    out["type"] = [b["type"] for b in branches]
    return out
