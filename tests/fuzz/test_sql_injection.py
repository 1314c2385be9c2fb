"""SQL injection attempts in every string argument of every tool change nothing they should not.

Every string the server stores or filters by is a bound parameter, so quotes, comment markers,
`UNION SELECT`, LIKE wildcards, backslashes and NUL are plain characters. Proven three ways:

- a sweep puts each attack string into each string argument (nested ones included) of every
  tool the live server lists: each call succeeds or fails with a code (and a failure commits
  nothing, see rig.py), every table is still there and every seeded task still exists;
- where a string is stored, it reads back verbatim;
- filters that match a prefix or pattern (memory_list `prefix`, activity_feed `kind`, task_list
  filters, artifacts_list `name`) treat `%`, `_` and `\\` as themselves.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.rig import TASKS, Rig
from tests.fuzz.strategies import resolve

ATTACKS = [
    "'; DROP TABLE tasks; --",
    '" OR 1=1 --',
    "' OR ''='",
    "%",
    "_",
    "%_%",
    "\\",
    "\\'; --",
    ") UNION SELECT name, sql FROM sqlite_master --",
    "1; DELETE FROM events WHERE 1=1",
    "x\x00'; DROP TABLE memory; --",
    "*' GLOB '*",
]
# Base values for required arguments, so that the attack string, not a missing field, is what
# the call is about. Anything not named here gets "x".
BASE = {
    "task": "T-3",
    "body": "b",
    "text": "t",
    "key": "k",
    "value": "v",
    "summary": "s",
    "reason": "r",
    "code": "C-1",
    "slug": "r",
    "title": "t",
    "stream": "db",
    "links": "project",
    "name": "n",
}



def base_value(schema: dict[str, Any], name: str, defs: dict[str, Any]) -> Any:
    schema = resolve(schema, defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "array":
        return [base_value(schema.get("items", {}), name, defs)]
    if kind == "object" or "properties" in schema:
        return {
            p: base_value(s, p, defs)
            for p, s in schema.get("properties", {}).items()
            if p in schema.get("required", [])
        }
    return {"integer": 1, "number": 1.0, "boolean": True}.get(kind, BASE.get(name, "x"))


def string_slots(schema: dict[str, Any], defs: dict[str, Any]) -> list[tuple[str, ...]]:
    """Paths to every string an argument object can hold; '[]' marks a list's single item."""
    slots: list[tuple[str, ...]] = []
    for prop, sub in schema.get("properties", {}).items():
        sub = resolve(sub, defs)
        kind = sub.get("type")
        if sub.get("type") == "array":
            item = resolve(sub.get("items", {}), defs)
            if item.get("type") == "string":
                slots.append((prop, "[]"))
            elif "properties" in item:
                slots += [(prop, "[]", *inner) for inner in string_slots(item, defs)]
        elif kind == "string" or (isinstance(kind, list) and "string" in kind):
            slots.append((prop,))
    return slots


def with_value(args: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    head, *rest = path
    if not rest:
        return {**args, head: value}
    if rest[0] == "[]":
        inner = args.get(head) or [{}]
        item = value if len(rest) == 1 else with_value(inner[0], tuple(rest[1:]), value)
        return {**args, head: [item]}
    return {**args, head: with_value(args.get(head, {}), tuple(rest), value)}


def tables(rig: Rig) -> set[str]:
    return {r[0] for r in rig.monitor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def seeded_tasks(rig: Rig) -> int:
    marks = ",".join("?" * len(TASKS))
    return rig.monitor.execute(f"SELECT count(*) FROM tasks WHERE code IN ({marks})", TASKS).fetchone()[0]


async def test_attack_strings_in_every_string_argument_of_every_tool_are_plain_text(rig: Rig):
    before_calls = rig.stats.calls
    for tool in rig.tools:
        defs = tool.input_schema.get("$defs", {})
        base = base_value(tool.input_schema, "", defs)
        async with rig.session() as client:
            expected_tables = tables(rig)
            for slot in string_slots(tool.input_schema, defs):
                for attack in ATTACKS:
                    await rig.call(client, tool.name, with_value(base, slot, attack))
                    assert tables(rig) == expected_tables, f"{tool.name}{slot} = {attack!r}"
                    assert seeded_tasks(rig) == len(TASKS), f"{tool.name}{slot} = {attack!r}"
            assert rig.monitor.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert rig.stats.calls - before_calls > 1000  # every tool has string arguments to attack


# ---------------------------------------------------------------- stored verbatim


async def test_attack_strings_are_stored_and_read_back_verbatim(rig: Rig):
    async with rig.session() as c:
        await rig.call(c, "message_inbox", {"agent": "bob", "mark_read": True, "limit": 200})  # the seeded ones
        for i, attack in enumerate(ATTACKS):
            title = f"{i} {attack}"[:200]
            created = await rig.call(
                c,
                "task_create",
                {
                    "tasks": [
                        {
                            "title": title,
                            "key": attack,
                            "description": attack,
                            "acceptance": attack,
                            "context": attack,
                            "role": attack,
                            "labels": [attack],
                        }
                    ]
                },
            )
            assert created.ok, created.text
            code = created.structured["tasks"][0]["code"]
            await rig.call(c, "task_note", {"task": code, "body": attack})
            task = (await rig.call(c, "task_get", {"task": code})).structured
            fields = task["task"]
            assert [fields[f] for f in ("title", "key", "description", "acceptance", "context", "role")] == [
                title,
                attack,
                attack,
                attack,
                attack,
                attack,
            ]
            assert fields["labels"] == [attack]
            assert task["notes"][0]["body"] == attack
            # The filters find exactly that task: an attack string never widens a match.
            for arg in ("role", "label"):
                page = (await rig.call(c, "task_list", {arg: attack})).structured
                assert [t["code"] for t in page["tasks"]] == [code], (arg, attack)

            key = f"inj/{i}/{attack}"
            assert (await rig.call(c, "memory_set", {"key": key, "value": attack})).ok
            assert (await rig.call(c, "memory_get", {"key": key})).structured["value"] == attack

            sent = await rig.call(c, "message_send", {"to": "bob", "subject": attack, "body": attack, "agent": "boss"})
            assert sent.ok, sent.text
            inbox = (
                await rig.call(c, "message_inbox", {"agent": "bob", "unread_only": True, "mark_read": True})
            ).structured
            assert [(m["subject"], m["body"]) for m in inbox["messages"]] == [(attack, attack)]

            assert (
                await rig.call(c, "role_define", {"role": {"slug": f"r{i}", "name": title, "instructions": attack}})
            ).ok
            roles = {r["slug"]: r for r in (await rig.call(c, "role_list", {})).structured["roles"]}
            assert (roles[f"r{i}"]["name"], roles[f"r{i}"]["instructions"]) == (title, attack)

            joined = await rig.call(c, "agent_init", {"agent": f"{i}{attack}"})
            if "\x00" in attack:  # agent names are one printable line, by design
                assert joined.code == "invalid_input", joined.text
                continue
            assert joined.ok, joined.text
            names = {a["name"] for a in (await rig.call(c, "agent_list", {})).structured["agents"]}
            assert f"{i}{attack}" in names
        counts = rig.monitor.execute("SELECT count(*) FROM tasks").fetchone()[0]
        assert counts == len(TASKS) + 1 + len(ATTACKS)  # the seeded plan (AUTH-1 too) and one per attack


# ---------------------------------------------------------------- wildcards are literal

# U+10FFFF (the last code point) once found a bug: memory_list's range stopped before it.
KEY_CHARS = st.sampled_from(["a", "b", "%", "_", "\\", "/", "\x00", "\uffff", "\U0010ffff", "é", "[", "*", "'"])
KEYS = st.text(KEY_CHARS, min_size=1, max_size=4)


@settings(max_examples=25, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    keys=st.sets(KEYS, min_size=1, max_size=8),
    prefixes=st.lists(st.text(KEY_CHARS, max_size=3), min_size=1, max_size=5),
)
async def test_memory_list_prefix_matches_exactly_the_keys_that_start_with_it(
    rig: Rig, keys: set[str], prefixes: list[str]
):
    async with rig.session() as c:
        for key in keys:
            assert (await rig.call(c, "memory_set", {"key": key, "value": "v", "scope": "project"})).ok
        every = {"decisions/db", *keys}  # the seeded project entry is listed too
        for prefix in prefixes:
            page = (await rig.call(c, "memory_list", {"prefix": prefix, "scope": "project", "limit": 200})).structured
            listed = [e["key"] for e in page["entries"]]
            assert sorted(listed) == sorted(k for k in every if k.startswith(prefix)), prefix


async def test_a_memory_key_continuing_with_the_last_code_point_is_listed(rig: Rig):
    """Regression: the prefix range `key < prefix || char(1114111)` used to drop this key."""
    async with rig.session() as c:
        key = "notes/\U0010ffff"
        assert (await rig.call(c, "memory_set", {"key": key, "value": "v"})).ok
        page = (await rig.call(c, "memory_list", {"prefix": "notes/"})).structured
        assert key in [e["key"] for e in page["entries"]]


async def test_activity_kind_and_task_filters_treat_wildcards_as_characters(rig: Rig):
    async with rig.session() as c:
        for kind in ("%", "_", "task%", "tas_", "task._", "%.%", "\\"):
            feed = (await rig.call(c, "activity_feed", {"kind": kind, "limit": 200})).structured
            assert feed["events"] == [], kind
        kinds = {
            e["kind"] for e in (await rig.call(c, "activity_feed", {"kind": "task", "limit": 200})).structured["events"]
        }
        assert kinds and all(k.startswith("task.") for k in kinds)
        for arg in ("role", "label", "claimed_by", "stream", "sprint"):
            for wildcard in ("%", "_", "*"):
                result = await rig.call(c, "task_list", {arg: wildcard})
                assert not result.ok or result.structured["tasks"] == [], (arg, wildcard)


async def test_artifact_name_filters_match_percent_and_underscore_literally(rig: Rig):
    if "artifacts_list" not in {t.name for t in rig.tools}:
        pytest.skip("this server lists no artifact tools")
    async with rig.session() as c:
        everything = (await rig.call(c, "artifacts_list", {})).structured["artifacts"]
        assert [a["name"] for a in everything] == ["report.md"]
        for pattern in ("%", "_", "%.md", "report_md", "'%' OR 1=1"):
            found = (await rig.call(c, "artifacts_list", {"name": pattern})).structured["artifacts"]
            assert found == [], pattern
        assert [a["name"] for a in (await rig.call(c, "artifacts_list", {"name": "*.md"})).structured["artifacts"]] == [
            "report.md"
        ]
