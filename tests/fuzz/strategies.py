"""Arguments for any tool, drawn from the input schema the live server lists.

Most values are valid-ish, so calls get past validation and reach the services and SQL: strings
named like a reference (`task`, `stream`, `agent`, `to`, ...) come mostly from the seeded plan's
codes plus near misses, numbers stay near their useful range. The rest are hostile: the wrong
type, NUL and lone surrogates, right-to-left marks and emoji, strings up to 1 MB, lists and
objects nested 50-150 deep, 2**63, 1e308, NaN and infinity, missing required arguments and
unknown argument names.
"""

from __future__ import annotations

import operator
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.rig import AGENTS, MEMORY_KEYS, ROLES, SPRINTS, STREAMS, TASKS

# ---------------------------------------------------------------- hostile values

PIECES = [
    "\x00",
    "\ud800",
    "\udfff",
    "\udbff\udc00",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\u0301",
    "שלום",
    "مرحبا",
    "😀",
    "👩‍👩‍👧",
    "🏳️‍🌈",
    "\U0010ffff",
    "\x7f",
    "\x1b[31m",
    "\n",
    "\r\n",
    "\t",
    "'",
    '"',
    "\\",
    "%",
    "_",
    "*",
    "?",
    "[",
    "--",
    ";",
    "/*",
    "T-1",
    " ",
    "[REDACTED]",
    "${x}",
    "{{x}}",
    "<b>",
    "..",
    "/",
    ":",
    "task:",
    "role:",
    "agent:",
]
SURROGATES = ["\ud800", "\udfff", "\udbff\udc00"]
# st.text and st.characters never yield surrogates; PIECES adds them to the hostile text only.
CLEAN_TEXT = st.one_of(
    st.text(max_size=24),
    st.lists(st.one_of(st.sampled_from([p for p in PIECES if p not in SURROGATES]), st.characters()), max_size=10).map(
        "".join
    ),
)
TEXT = st.one_of(
    st.text(max_size=24),
    st.lists(st.one_of(st.sampled_from(PIECES), st.characters()), max_size=10).map("".join),
)
# A repeated unit keeps a 1 MB string cheap to draw.
HUGE = st.builds(
    operator.mul,
    st.sampled_from(["a", "é", "😀", "\x00", "ab\n", "T-1 "]),
    st.sampled_from([101, 201, 4097, 65_537, 300_000, 1_000_000]),
)
BIG_INTS = st.sampled_from([-1, -(2**31), 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30])
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, float("nan"), float("inf"), float("-inf"), -0.0, 0.5]),
)


def nest(leaf: Any, depth: int, as_dict: bool) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf} if as_dict else [leaf]
    return leaf


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), BIG_INTS, FLOATS, TEXT)
DEEP = st.builds(nest, SCALARS, st.integers(50, 150), st.booleans())
HOSTILE = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(TEXT, SCALARS, max_size=3),
    DEEP,
    HUGE,
)
JUNK_NAMES = st.one_of(st.sampled_from(["", "id", "taks", "Agent", "__proto__", "tasks[0]", "\x00"]), TEXT)

# ---------------------------------------------------------------- valid-ish values by argument name

NEAR_MISS_TASKS = ["T-0", "T-12", "T-999", "t-1", " T-1", "T-1 ", "T-01", "AUTH-1", "k-auth", "NEW-1", "NEW-2"]
# Repeats weight a pool towards the values the seeded plan makes interesting: alice holds T-1
# (in progress), T-4 (in review) and T-5 (blocked); T-3 and T-7 are ready.
HOT_TASKS = ["T-1", "T-1", "T-3", "T-4", "T-5", "T-7"]
POOLS: dict[str, list[str]] = {
    "task": HOT_TASKS * 2 + TASKS + NEAR_MISS_TASKS,
    "parent": TASKS + NEAR_MISS_TASKS,
    "depends_on": TASKS + NEAR_MISS_TASKS + STREAMS,
    "tasks": HOT_TASKS + TASKS + NEAR_MISS_TASKS,
    "stream": [*STREAMS, "nope", "DB", "new-s"],
    "sprint": [*SPRINTS, "S2", "nope"],
    "role": [*ROLES, "nope", "new-role"],
    "slug": [*ROLES, "new-role", "NEW"],
    "agent": ["alice"] * 6 + [*AGENTS, "carol", "taskloom", "Alice"],
    "by_agent": [*AGENTS, "taskloom", "nope"],
    "claimed_by": [*AGENTS, "nope"],
    "to": [
        "bob",
        "alice",
        "boss",
        "carol",
        "role:dev",
        "role:nope",
        "all",
        "task:T-1",
        "task:T-3",
        "task:T-999",
        "agent:bob",
        "task:",
        "role:",
        "agent:",
    ],
    "kind": ["task", "task.done", "task.claimed", "message", "memory", "agent", "agent.log", "t", "task."],
    "key": [*MEMORY_KEYS, "notes", "new", "k-auth", "NEW-1"],
    "prefix": ["", "notes", "notes/", "n", "decisions/db", "zz"],
    "code": [*TASKS, *STREAMS, *SPRINTS, *ROLES, "NEW-1", "NEW-2", "new-s", "S2", "a.b:c-d"],
    "label": ["backend", "urgent", "nope"],
    "labels": ["backend", "urgent", "nope", "new"],
    "capabilities": ["python", "sql"],
    "status": ["ready", "done", "backlog"],
    "links": ["task:T-1", "task:T-3", "stream:db", "sprint:S1", "project", "task:T-999", "stream:nope", "x", ""],
    "name": ["report.md", "notes.txt", "*.md", "report*", "%", "_", "[a-z]*", ""],
    "media_type": ["text/", "text/markdown", "image/", "application/octet-stream", "%"],
    # Relative paths start at the rig's artifacts folder, which holds report.md.
    "path": [
        "report.md",
        "report.md",
        "missing.md",
        "../live.db",
        "..",
        ".",
        "/etc/passwd",
        "/dev/zero",
        "a/../report.md",
    ],
}


def add_pool(name: str, values: list[str]) -> None:
    """Values known only once the plan is seeded (an artifact's URI), most wanted first."""
    POOLS[name] = values * 3 + POOLS.get(name, [])


# (plain range: what a careful agent sends; typed range: near and past the limits)
INT_RANGES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "since": ((0, 40), (-2, 100)),
    "limit": ((1, 50), (-1, 250)),
    "offset": ((0, 5), (-1, 40)),
    "if_version": ((1, 4), (-1, 8)),
    "reply_to": ((1, 6), (-1, 12)),
    "ids": ((1, 6), (-1, 12)),
    "ack": ((1, 6), (-1, 12)),
    "priority": ((0, 4), (-1, 6)),
    "max_attempts": ((1, 5), (0, 101)),
}
PLAIN_TEXT = st.text(st.characters(codec="utf-8", categories=["L", "N", "Zs", "P"]), min_size=1, max_size=16)

# How careful a call is: "plain" sends what a careful agent would (codes from the pools, short
# text, in-range numbers); "typed" keeps every JSON type right but anything goes inside them;
# "hostile" puts anything at all in about one value in three, drops required arguments and adds
# unknown ones.
Mode = str


def string_for(name: str, mode: Mode) -> st.SearchStrategy[str]:
    text = {"plain": PLAIN_TEXT, "typed": CLEAN_TEXT, "hostile": TEXT}[mode]
    pool = POOLS.get(name)
    if pool is None:
        return text
    if mode == "plain":
        return st.sampled_from(pool)
    return st.one_of(st.sampled_from(pool), st.sampled_from(pool), st.sampled_from(pool), text)


def integer_for(name: str, mode: Mode) -> st.SearchStrategy[int]:
    plain, typed = INT_RANGES.get(name, ((0, 10), (-3, 50)))
    if mode == "plain":
        return st.integers(*plain)
    return st.one_of(st.integers(*typed), st.integers(*typed), BIG_INTS)


def number_for(mode: Mode) -> st.SearchStrategy[float]:
    if mode == "plain":
        return st.one_of(st.floats(0.5, 1e5), st.integers(1, 10**5))
    return st.one_of(st.floats(0.001, 1e6), st.integers(1, 10**6), FLOATS)


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = {**defs[schema["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def value_for(schema: dict[str, Any], name: str, defs: dict[str, Any], mode: Mode) -> st.SearchStrategy[Any]:
    """What `schema` asks for; in hostile mode, anything at all in about one draw in three."""
    base = _typed(resolve(schema, defs), name, defs, mode)
    return st.one_of(base, base, HOSTILE) if mode == "hostile" else base


def _typed(schema: dict[str, Any], name: str, defs: dict[str, Any], mode: Mode) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        choices = st.sampled_from(schema["enum"])
        return choices if mode == "plain" else st.one_of(choices, choices, string_for(name, mode))
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return st.one_of(*(_typed(resolve(b, defs), name, defs, mode) for b in branches))
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(_typed({**schema, "type": k}, name, defs, mode) for k in kind))
    if kind == "string":
        return string_for(name, mode)
    if kind == "integer":
        return integer_for(name, mode)
    if kind == "number":
        return number_for(mode)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = resolve(schema.get("items", {}), defs)
        return st.lists(value_for(items, name, defs, mode), max_size=3 if mode == "plain" else 5)
    if kind == "object" or "properties" in schema:
        return arguments(schema, defs, mode)
    return HOSTILE


def arguments(schema: dict[str, Any], defs: dict[str, Any] | None = None, mode: Mode = "plain") -> st.SearchStrategy:
    """An arguments object for `schema`: its required fields and a random choice of the others."""
    defs = {**(defs or {}), **schema.get("$defs", {})}
    props = schema.get("properties", {})
    required = [p for p in schema.get("required", []) if p in props]
    fields = {p: value_for(s, p, defs, mode) for p, s in props.items()}
    usual = st.fixed_dictionaries(
        {p: fields[p] for p in required}, optional={p: f for p, f in fields.items() if p not in required}
    )
    if mode != "hostile":
        return usual
    missing = st.fixed_dictionaries({}, optional=fields)
    extra = st.builds(lambda a, b: {**a, **b}, usual, st.dictionaries(JUNK_NAMES, HOSTILE, min_size=1, max_size=2))
    return st.one_of(usual, usual, usual, usual, missing, extra)


def call_of(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments for one call, in one of the three modes."""
    return st.one_of(*(arguments(schema, mode=m) for m in ("plain", "plain", "typed", "hostile")))
