"""Every tool the live server lists survives fuzzed arguments through a real MCP client session.

Each hypothesis example restores a seeded plan (a sprint, three dependent streams, tasks in
every status, agents, roles, messages, memory) and sends a batch of calls drawn from the tools'
own input schemas (see strategies.py). Every call must answer in time with success or an error
that starts with one of our codes (never `internal`, never a traceback); a failed call must
commit nothing; after every commit the dependency graphs must be acyclic; the session must
still answer at the end of the batch (rig.py does the checking).

The tool list comes from `tools/list`, so tools added later are fuzzed with no change here.
CI runs a fixed seed; TASKLOOM_FUZZ_EXAMPLES=10 runs ten times the examples (0.2 a fifth),
TASKLOOM_FUZZ_SEED=<n> draws different ones, TASKLOOM_FUZZ_SHRINK=1 shrinks a failing batch.
`pytest -s` prints each test's call counts, error codes and slowest call.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.rig import STREAMS, TASKS, Rig, examples, seed_plan
from tests.fuzz.strategies import HOSTILE, TEXT, call_of

# Calls in CI: 5,000+ spread over the listed tools, 3,000 mixed, 1,500 on the graph; with the
# redaction and prefix properties that is over 10,000 generated calls a run.
PER_TOOL_CALLS = 5000
TOOL_BATCH = 25  # calls per example: restoring the plan costs about as much as 5 calls
MIXED_BATCH = 30
MIXED_EXAMPLES = 100
GRAPH_BATCH = 30
GRAPH_EXAMPLES = 50

Call = tuple[str, dict[str, Any] | None]


def run_examples(strategy: st.SearchStrategy, count: int, body: Callable[[Any], Awaitable[None]]) -> Callable[[], None]:
    """A hypothesis run of `count` examples, to be started in a worker thread: each example's
    async body runs back on the event loop that owns the rig."""
    chosen = os.environ.get("TASKLOOM_FUZZ_SEED")
    # The failing call is named in the assertion, so CI skips shrinking (up to minutes on a
    # batch); TASKLOOM_FUZZ_SHRINK=1 turns it on to cut a batch down to the calls that matter.
    phases = [p for p in Phase if p != Phase.shrink or os.environ.get("TASKLOOM_FUZZ_SHRINK")]

    @settings(
        max_examples=examples(count),
        derandomize=chosen is None,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        phases=phases,
    )
    @given(strategy)
    def one(value: Any) -> None:
        anyio.from_thread.run(body, value)

    return seed(int(chosen))(one) if chosen is not None else one


async def run_batch(rig: Rig, calls: list[Call]) -> None:
    async with rig.session() as client:
        for tool, args in calls:
            await rig.call(client, tool, args)


# ---------------------------------------------------------------- each tool, then all mixed


async def test_each_listed_tool_answers_fuzzed_arguments_with_success_or_one_of_our_error_codes():
    async with Rig.open(seed_plan) as rig:
        # A fixed number of calls, spread evenly over however many tools the server lists.
        per_tool = max(2, math.ceil(PER_TOOL_CALLS / (TOOL_BATCH * len(rig.tools))))
        for tool in rig.tools:
            batches = st.lists(
                st.tuples(st.just(tool.name), call_of(tool.input_schema)), min_size=TOOL_BATCH, max_size=TOOL_BATCH
            )
            await anyio.to_thread.run_sync(run_examples(batches, per_tool, lambda calls: run_batch(rig, calls)))
        stats = rig.stats
    print(stats.summary())
    # Hypothesis discards the odd example that overruns its buffer: allow for a few.
    assert stats.calls >= 0.9 * examples(per_tool) * TOOL_BATCH * len(rig.tools)
    # Mostly valid-ish input: a fuzzer that only ever met validation errors would prove little.
    assert sum(stats.successes.values()) >= stats.calls // 4, stats.summary()
    never = sorted(t.name for t in rig.tools if stats.successes[t.name] == 0)
    assert len(never) <= len(rig.tools) // 5, f"tools that never once succeeded: {never}"


ODD_NAMES = ["task_delete", "", "TASK_GET", "task_get ", "\x00", "a" * 300]


def mixed_batch(rig: Rig) -> st.SearchStrategy[list[Call]]:
    """A batch that visits the tools in a random order (a plain one_of would favour the first
    tools listed), with the odd call that has no arguments or names no tool."""
    per_tool = {t.name: st.tuples(st.just(t.name), call_of(t.input_schema)) for t in rig.tools}
    odd = st.one_of(
        st.tuples(st.sampled_from(sorted(per_tool)), st.none()),
        st.tuples(st.sampled_from(ODD_NAMES), st.just({})),
    )

    @st.composite
    def batch(draw: st.DrawFn) -> list[Call]:
        order = draw(st.permutations(sorted(per_tool)))
        calls = [draw(per_tool[order[i % len(order)]]) for i in range(MIXED_BATCH - 1)]
        calls.insert(draw(st.integers(0, len(calls))), draw(odd))
        return calls

    return batch()


async def test_mixed_batches_of_every_tool_keep_every_promise_as_state_builds_up():
    async with Rig.open(seed_plan) as rig:
        await anyio.to_thread.run_sync(
            run_examples(mixed_batch(rig), MIXED_EXAMPLES, lambda calls: run_batch(rig, calls))
        )
        stats = rig.stats
    print(stats.summary())
    assert stats.calls >= 0.9 * examples(MIXED_EXAMPLES) * MIXED_BATCH
    assert sum(stats.successes.values()) >= stats.calls // 4, stats.summary()
    assert stats.codes["not_found"] > 0 and stats.codes["invalid_input"] > 0


# ---------------------------------------------------------------- dependency cycles

NEW_TASKS = ["N1", "N2", "N3"]
GRAPH_TASKS = TASKS + NEW_TASKS
GRAPH_STREAMS = [*STREAMS, "s1", "s2"]
refs = st.lists(st.sampled_from(GRAPH_TASKS + ["k1", "k2", "k3"]), max_size=3)


def task_spec(codes: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"title": st.just("t"), "depends_on": refs},
        optional={
            "code": st.sampled_from(codes),
            "key": st.sampled_from(["k1", "k2", "k3"]),
            "parent": st.sampled_from(GRAPH_TASKS),
            "stream": st.sampled_from(GRAPH_STREAMS),
        },
    )


stream_spec = st.fixed_dictionaries(
    {"code": st.sampled_from(GRAPH_STREAMS)},
    optional={"depends_on": st.lists(st.sampled_from(GRAPH_STREAMS), max_size=3)},
)
graph_call = st.one_of(
    st.tuples(
        st.just("task_update"),
        st.fixed_dictionaries({"task": st.sampled_from(GRAPH_TASKS), "depends_on": refs}),
    ),
    st.tuples(
        st.just("task_create"), st.fixed_dictionaries({"tasks": st.lists(task_spec(NEW_TASKS), min_size=1, max_size=3)})
    ),
    st.tuples(st.just("stream_create"), stream_spec),
    st.tuples(
        st.just("plan_import"),
        st.fixed_dictionaries(
            {},
            optional={
                "streams": st.lists(stream_spec, max_size=3),
                "tasks": st.lists(task_spec(GRAPH_TASKS), max_size=4),
            },
        ),
    ),
    st.tuples(
        st.just("task_update"),
        st.fixed_dictionaries(
            {"task": st.sampled_from(GRAPH_TASKS), "status": st.sampled_from(["ready", "done", "cancelled", "backlog"])}
        ),
    ),
)


async def test_dependency_edits_imports_and_self_references_never_leave_a_cycle():
    async with Rig.open(seed_plan) as rig:
        batches = st.lists(graph_call, min_size=GRAPH_BATCH, max_size=GRAPH_BATCH)
        await anyio.to_thread.run_sync(run_examples(batches, GRAPH_EXAMPLES, lambda calls: run_batch(rig, calls)))
        stats = rig.stats
    print(stats.summary())
    assert stats.calls >= 0.9 * examples(GRAPH_EXAMPLES) * GRAPH_BATCH
    # The batches really did try to close cycles, and some edits went through.
    assert stats.codes["cycle"] >= stats.calls // 40, stats.summary()
    assert sum(stats.successes.values()) >= stats.calls // 5, stats.summary()


# ---------------------------------------------------------------- the checks themselves


async def test_the_change_check_sees_a_commit_by_another_connection_and_ignores_reads():
    """The control for `a failed call commits nothing`: the same check sees a real write."""
    async with Rig.open(seed_plan) as rig, rig.session() as client:
        before = rig.data_version()
        await rig.call(client, "task_get", {"task": "T-1"})
        await rig.call(client, "task_get", {"task": "T-404"})
        assert rig.data_version() == before
        other = sqlite3.connect(rig.db_path)
        try:
            other.execute("UPDATE tasks SET title = 'x' WHERE code = 'T-3'")
            other.commit()
        finally:
            other.close()
        assert rig.data_version() != before


async def test_the_graph_check_finds_a_cycle_written_behind_the_server_back():
    async with Rig.open(seed_plan) as rig, rig.session():
        assert rig.graph_cycles() == []
        rig.monitor.execute(
            "INSERT INTO task_deps (task_id, depends_on_id) "
            "SELECT a.id, b.id FROM tasks a, tasks b WHERE a.code = 'T-1' AND b.code = 'T-2'"
        )
        assert [c.split(":")[0] for c in rig.graph_cycles()] == ["task_deps"]
        rig.monitor.execute("DELETE FROM task_deps")  # leave the session's closing checks a sound plan


def describe(value: Any) -> frozenset[str]:
    """The hostile features of a drawn value (a small repr for hypothesis, whatever its size)."""
    if isinstance(value, str):
        return frozenset(
            name
            for name, hit in {
                "nul": "\x00" in value,
                "surrogate": any("\ud800" <= c <= "\udfff" for c in value),
                "rtl": "\u202e" in value or "\u200f" in value,
                "mb": len(value) >= 1_000_000,
            }.items()
            if hit
        )
    if isinstance(value, float) and math.isnan(value):
        return frozenset({"nan"})
    depth = 0
    while isinstance(value, list | dict) and value:
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return frozenset({"deep"}) if depth >= 50 else frozenset()


def test_hostile_strategies_draw_nul_surrogates_rtl_megabyte_strings_nan_and_deep_nesting():
    seen: set[str] = set()

    # Derandomized, yet what is drawn still moves with the process's hash seed: 1,000 draws make
    # missing a feature by chance vanishingly rare (300 missed RTL once in CI).
    @settings(max_examples=1000, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(HOSTILE, TEXT).map(describe))
    def look(features: frozenset[str]) -> None:
        seen.update(features)

    look()
    assert seen == {"nul", "surrogate", "rtl", "mb", "nan", "deep"}
