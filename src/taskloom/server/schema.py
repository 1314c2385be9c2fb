"""Compact tool schemas: every byte of tools/list is paid for in each agent's context.

Inputs: pydantic titles every model and field ("Title": "Priority") and spells optional inputs
as `anyOf: [X, null]` with `default: null`; neither tells an LLM anything the property name and
`required` do not. Length, pattern and range limits are dropped from the listing too: the server
checks every argument against the full model anyway, and answers a breach with a `too_large` or
`invalid_input` error that names the field and the limit.

Outputs: one level deep (each field's name and JSON type). Hosts do not show output schemas to
models, so the nested detail cost every agent tokens for nothing; programs find the full result
models in tools.md, and `structuredContent` still carries every field.

Portability: every schema node has exactly one `type` (a nullable field is `anyOf` of one-type
branches, never `type: [X, "null"]`, which clients mapping schemas onto a single-type dialect such
as Gemini's OpenAPI subset reject), no bare `true`/`false` schemas, no untyped nodes and no remote
`$ref`. These are the MCP Inspector's portability rules; tests/conformance/test_inspector.py runs
it over every profile and wants 0 errors and 0 warnings.
"""

from __future__ import annotations

from typing import Any

_NULL = {"type": "null"}


_LIMITS = {"maxLength", "minLength", "pattern", "maxItems", "minItems", "maximum", "minimum",
           "exclusiveMaximum", "exclusiveMinimum"}


def compact(schema: dict[str, Any], *, is_input: bool) -> dict[str, Any]:
    return _node(schema) if is_input else shallow(schema)


def shallow(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema cut to its top level: `{name: {type}}` and what is required."""
    defs = schema.get("$defs", {})
    props = {name: _typed(_json_type(sub, defs)) for name, sub in schema.get("properties", {}).items()}
    out: dict[str, Any] = {"type": "object", "properties": props}
    if schema.get("required"):
        out["required"] = schema["required"]
    return out


def _typed(types: str | list[str]) -> dict[str, Any]:
    if isinstance(types, str):
        return {"type": types}
    return {"anyOf": [{"type": t} for t in types]}


def _json_type(node: dict[str, Any], defs: dict[str, Any]) -> str | list[str]:
    if "$ref" in node:
        return _json_type(defs.get(node["$ref"].rsplit("/", 1)[-1], {"type": "object"}), defs)
    if "type" in node:
        return node["type"]
    if "const" in node:
        return "string" if isinstance(node["const"], str) else "object"
    types: list[str] = []
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        t = _json_type(branch, defs)
        for one in t if isinstance(t, list) else [t]:
            if one not in types:
                types.append(one)
    if not types:
        return "object"
    return types[0] if len(types) == 1 else types


def _node(node: Any) -> Any:
    if isinstance(node, list):
        return [_node(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _LIMITS:
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _node(sub) for name, sub in value.items()}
        else:
            out[key] = _node(value)
    return _drop_optional_null(out)


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
