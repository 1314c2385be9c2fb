"""The dashboard's performance goals (issue 14), measured side by side in one run.

One database: `--tasks` tasks with 1.5 dependencies each over `--streams` streams (the project of
bench_graph_picture: a third done, the frontier ready), a hub task that `--hub` others depend on,
and `--agents` agents who each claimed a task through the services; of those, 20 blocked theirs,
20 sent theirs to review, 10 failed theirs for good (escalated) and 50 finished theirs, so every
region of the overview has something to show and the activity feed has a few hundred events.

1. Render, in process: the dashboard's ASGI app (`build_web`) over the real SQLite file, driven
   by httpx's ASGI transport as the web tests drive it. Each `--rounds` times: GET /ui/ cold (a
   new layout cache first: the first view after a structural change) and warm (the cache holds
   the frame: what most live updates cost), each partial /ui/p/<region>, and the hub's task
   page. Beside them, where an overview's time goes: the one read (`overview_data`), the layout
   and SVG, and the template; the read with the garbage collector paused; and GET /ui/ again
   after `freeze_startup()`, as `taskloom serve` and `taskloom dashboard` run (start-up frozen
   out of the collector's sight), beside the same process unfrozen.
2. Idle browsers: a real `taskloom serve --transport http` on the same database. Its CPU (psutil,
   user + system, as a share of one core) over a `--window` with no stream open, then over the
   same window with `--browsers` streaming clients on /ui/events, open and idle. psutil counts
   CPU in 10 ms ticks: a 10 s window resolves 0.1% of a core, a 60 s one 0.017%.
3. Change to signal: with those streams still open, a tool call (`task_update` of a priority)
   from another process (an SDK client of its own stdio `taskloom serve`) until the SSE `event:`
   line arrives, on the first stream to hear it and on the last of them, `--changes` times. The
   feed is patient while only pages listen (it looks about once a second), and a burst is
   gathered for 0.25 s, so ~1 s is expected; each change comes at a random moment of that cycle.

    .venv/bin/python -m tests.benchmarks.bench_dashboard [--tasks 10000] [--rounds 20] [--window 60] [--quick]
Goals: the overview under 200 ms at 10k tasks; 20 idle browsers on SSE under 2% of a core.
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
from mcp import Client

from taskloom.config import Settings
from taskloom.domain.layout import TASK_PICTURE_LIMIT, LayoutCache
from taskloom.models import StreamSpec
from taskloom.resolver import Resolver
from taskloom.server.http import security_for
from taskloom.server.run import freeze_startup
from taskloom.services import agents as agent_service
from taskloom.services import planning, work
from taskloom.services.app import Taskloom
from taskloom.web.app import View, build_web
from taskloom.web.guard import Person, WebGuard
from taskloom.web.routes.overview import REGIONS, TEMPLATE, _draw, overview_data
from taskloom.web.sessions import Sessions
from tests.benchmarks.bench_graph_picture import _spread
from tests.benchmarks.bench_waiting import _cpu_share
from tests.benchmarks.common import (
    PROJECT,
    PY,
    Figure,
    bulk_build,
    checkpoint,
    fresh,
    http_server,
    median,
    pct,
    print_figures,
    result,
    script,
    stdio_params,
    workdir_or_temp,
)

GOAL_OVERVIEW_MS = 200.0
GOAL_IDLE_PCT = 2.0
LEASE = 7 * 24 * 3600.0  # seconds: the seeded claims outlive any run, so no lease expires mid-window
PORT = 8766  # the in-process app's notional port (Host and Origin are checked against it)
ORIGIN = f"http://127.0.0.1:{PORT}"
SSE_REGIONS = "overview,decisions,agents,activity,runs"
SETTLE_S = 1.0  # after start-up or connecting, before a CPU window: the start-up work is over
BOUND = 60.0  # seconds: only a bound on a stuck run; every wait below ends on an event
JITTER = 1.5  # seconds: the most a latency round waits, at random, before its change (the feed's look is ~1 s)
BLOCKED, REVIEW, FAILED, DONE = 20, 20, 2, 50  # of the agents' claimed tasks (a failure escalates its downstream)
LANES = 8  # streams run in this many parallel chains, so several are open at once


# ---------------------------------------------------------------- the project


@asynccontextmanager
async def opened(path: Path, agent: str = "bench-person") -> AsyncIterator[Taskloom]:
    settings = Settings(db_path=path, project=PROJECT, default_agent=agent, lease_seconds=LEASE)
    app = await Taskloom.open(settings)
    try:
        yield app
    finally:
        await app.close()


def _stream_specs(k: int) -> list[StreamSpec]:
    """Streams in LANES parallel chains: with the first third of the tasks done, LANES streams are open."""
    return [StreamSpec(code=f"S{i}", name=f"Stream {i}", depends_on=[f"S{i - LANES}"] if i >= LANES else [])
            for i in range(k)]


def _hub(conn: sqlite3.Connection, n: int, dependents: int, seed: int) -> str:
    """The first open task becomes a hub that `dependents` later tasks wait for (edges point back)."""
    hub = n // 3 + 1
    rng = random.Random(seed)
    later = rng.sample(range(hub + 1, n + 1), min(dependents, n - hub))
    conn.executemany("INSERT OR IGNORE INTO task_deps (task_id, depends_on_id) VALUES (?, ?)",
                     [(t, hub) for t in later])
    conn.execute("UPDATE projects SET graph_version = graph_version + 1")
    return conn.execute("SELECT code FROM tasks WHERE id = ?", (hub,)).fetchone()[0]


def _readiness(conn: sqlite3.Connection, now: float) -> None:
    """Statuses that agree with the dependencies after the bulk edits: ready iff all are done."""
    open_dep = ("EXISTS (SELECT 1 FROM task_deps d JOIN tasks p ON p.id = d.depends_on_id"
                " WHERE d.task_id = tasks.id AND p.status != 'done')")
    conn.execute(f"UPDATE tasks SET status = 'waiting', ready_at = NULL WHERE status = 'ready' AND {open_dep}")
    conn.execute(f"UPDATE tasks SET status = 'ready', ready_at = ? WHERE status = 'waiting' AND NOT {open_dep}",
                 (now,))


async def build(path: Path, n: int, k: int, agents: int, hub: int, seed: int = 3) -> dict[str, Any]:
    """The benchmark's database (see the module's docstring); returns its shape."""
    async with opened(fresh(path)) as app:
        pid = app.project_id
        now = app.clock.now()
        await app.write(planning.upsert_streams, _stream_specs(k))
        await app.store.write_raw(lambda conn: bulk_build(conn, pid, n, n * 3 // 2, seed=seed, now=now))
        # Tasks in runs of neighbours per stream (no strays: a stray open task would hold its
        # whole chain of streams back), the first third done.
        await app.store.write_raw(lambda conn: _spread(conn, pid, n, k, 0.0, seed))
        hub_code = await app.store.write_raw(lambda conn: _hub(conn, n, hub, seed))
        await app.store.write_raw(lambda conn: _readiness(conn, now))
        resolver = Resolver(app)
        await resolver.run_once(reconcile=True)  # ranks, and the streams' gates, as a server would start
        held: list[tuple[str, str]] = []
        for i in range(agents):
            name = f"agent-{i:03d}"
            await app.write(agent_service.touch, name, agent=name)  # what any tool call of the agent does
            got = await app.write(work.claim, agent=name)
            if got.claimed:
                held.append((name, got.detail.task.code))
        review = [code for _, code in held[BLOCKED:BLOCKED + REVIEW]]
        await app.store.write_raw(lambda conn: conn.executemany(
            "UPDATE tasks SET requires_review = 1 WHERE code = ?", [(c,) for c in review]))
        for i, (name, code) in enumerate(held[: BLOCKED + REVIEW + FAILED + DONE]):
            if i < BLOCKED:
                await app.write(work.block, code, f"Which format does {code} need? The plan says two things.",
                                agent=name)
            elif i < BLOCKED + REVIEW + FAILED and i >= BLOCKED + REVIEW:
                await app.write(work.fail, code, "The build breaks on this machine.", False, agent=name)
            else:
                await app.write(work.done, code, "Implemented, with tests.", agent=name)
        await resolver.run_once(reconcile=True)
        shape = await app.store.write_raw(lambda conn: {
            "statuses": dict(conn.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall()),
            "tasks": conn.execute("SELECT count(*) FROM tasks").fetchone()[0],
            "edges": conn.execute("SELECT count(*) FROM task_deps").fetchone()[0],
            "streams": conn.execute("SELECT count(*) FROM streams").fetchone()[0],
            "agents": conn.execute("SELECT count(*) FROM agents").fetchone()[0],
            "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
            "hub_dependents": conn.execute(
                "SELECT count(*) FROM task_deps d JOIN tasks t ON t.id = d.depends_on_id WHERE t.code = ?",
                (hub_code,)).fetchone()[0],
        })
    checkpoint(path)
    return {**shape, "hub": hub_code, "claimed": len(held)}


# ---------------------------------------------------------------- 1. render in process


async def _get(client: httpx2.AsyncClient, url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = await client.get(url)
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:300]}")
    return seconds, len(r.content)


async def _render(path: Path, rounds: int, hub: str) -> dict[str, Any]:
    urls = {"overview": "/ui/", **{f"p/{r}": f"/ui/p/{r}" for r in REGIONS}, "task": f"/ui/task/{hub}"}
    parts = ["read", "draw", "template", "draw cold", "read, GC paused"]
    frozen = ["overview cold, frozen", "overview, frozen"]
    times: dict[str, list[float]] = {k: [] for k in ["overview cold", *urls, *parts, *frozen]}
    sizes: dict[str, int] = {}
    async with opened(path) as app:
        guard = WebGuard(security_for("127.0.0.1", PORT), None, Sessions(app.clock), name="bench-person")
        asgi = build_web(app, guard)
        web = asgi.web  # the dashboard's state: its layout cache
        transport = httpx2.ASGITransport(app=asgi)
        async with httpx2.AsyncClient(transport=transport, base_url=ORIGIN, headers={"origin": ORIGIN}) as client:
            await _get(client, "/ui/")  # the first visit: the session cookie, templates compiled
            for _ in range(rounds):
                web.layouts = LayoutCache()  # as after a structural change: the frame is laid out again
                misses = web.layouts.misses
                dt, _ = await _get(client, "/ui/")
                if web.layouts.misses != misses + 1:
                    raise RuntimeError("the cold overview did not lay the picture out")
                times["overview cold"].append(dt)
                for name, url in urls.items():
                    dt, sizes[name] = await _get(client, url)
                    times[name].append(dt)
                await _parts(app, web, times)
            # What the server does after start-up (server.run.freeze_startup), measured beside the
            # same process unfrozen: start-up's objects out of the collector's sight, so the read's
            # ~25k new objects do not make every full collection walk the whole process.
            freeze_startup()
            try:
                for _ in range(rounds):
                    web.layouts = LayoutCache()
                    times["overview cold, frozen"].append((await _get(client, "/ui/"))[0])
                    times["overview, frozen"].append((await _get(client, "/ui/"))[0])
            finally:
                gc.unfreeze()
    return {"times": times, "sizes": sizes, "layout_hits": web.layouts.hits}


async def _parts(app: Taskloom, web: Any, times: dict[str, list[float]]) -> None:
    """A warm overview taken apart: the one read, the layout + SVG (off the loop), the template;
    beside them the layout + SVG with a new cache, and the read with the garbage collector paused
    (the read makes ~25k row objects at 10k tasks, and a long-lived server holds many more)."""
    t0 = time.perf_counter()
    data = await app.read(overview_data, frozenset(REGIONS), None, app.settings.online_seconds,
                          app.settings.offline_seconds)
    t1 = time.perf_counter()
    picture = data.pop("picture")
    data["graph"] = await _draw(web, picture, TASK_PICTURE_LIMIT)
    data["view"] = "tasks"
    t2 = time.perf_counter()
    view = View(web, Person("bench-person", False, None), request=None)  # the context reads no request
    await web.pages.render(TEMPLATE, view.context(**data))
    t3 = time.perf_counter()
    times["read"].append(t1 - t0)
    times["draw"].append(t2 - t1)
    times["template"].append(t3 - t2)
    warm, web.layouts = web.layouts, LayoutCache()
    t4 = time.perf_counter()
    await _draw(web, picture, TASK_PICTURE_LIMIT)
    times["draw cold"].append(time.perf_counter() - t4)
    web.layouts = warm
    gc.disable()
    try:
        t5 = time.perf_counter()
        await app.read(overview_data, frozenset(REGIONS), None, app.settings.online_seconds,
                       app.settings.offline_seconds)
        times["read, GC paused"].append(time.perf_counter() - t5)
    finally:
        gc.enable()


def render(path: Path, rounds: int, shape: dict[str, Any]) -> tuple[list[Figure], dict[str, Any]]:
    got = anyio.run(_render, path, rounds, shape["hub"])
    ms = {k: [x * 1e3 for x in v] for k, v in got["times"].items()}
    p50 = {k: median(v) for k, v in ms.items()}
    p95 = {k: pct(v, 95) for k, v in ms.items()}
    kb = {k: v / 1024 for k, v in got["sizes"].items()}
    cmd = f"{PY} -m tests.benchmarks.bench_dashboard --only render --tasks {shape['tasks_asked']} --rounds {rounds}"
    scale = (f"{shape['tasks']:,} tasks / {shape['edges']:,} edges / {shape['streams']} streams / "
             f"{shape['agents']} agents / {shape['events']} events")

    def pair(key: str) -> str:
        return f"{p50[key]:.1f} / {p95[key]:.1f}"

    figures = [
        Figure(f"GET /ui/ as the servers run (start-up frozen), warm (layout cached), {scale}: p50 / p95 "
               f"({rounds} rounds, in process)", pair("overview, frozen"), "ms", command=cmd),
        Figure("GET /ui/ warm p95", round(p95["overview, frozen"], 1), "ms", f"< {GOAL_OVERVIEW_MS:.0f}",
               p95["overview, frozen"] < GOAL_OVERVIEW_MS, cmd),
        Figure("GET /ui/ as the servers run, cold (a new layout cache: first view after a structural change): "
               "p50 / p95", pair("overview cold, frozen"), "ms", command=cmd),
        Figure("GET /ui/ cold p95", round(p95["overview cold, frozen"], 1), "ms", f"< {GOAL_OVERVIEW_MS:.0f}",
               p95["overview cold, frozen"] < GOAL_OVERVIEW_MS, cmd),
        Figure("  the same process without freeze_startup: GET /ui/ warm / cold, p50 / p95",
               f"{pair('overview')} / {pair('overview cold')}", "ms", command=cmd),
        Figure("  cold / warm, p50", round(p50["overview cold"] / p50["overview"], 2), "x", command=cmd),
        Figure("  warm overview taken apart, p50: read (overview_data) / layout + SVG / template",
               f"{p50['read']:.1f} / {p50['draw']:.1f} / {p50['template']:.1f}", "ms", command=cmd),
        Figure("  layout + SVG with a new cache / warm, p50", f"{p50['draw cold']:.1f} / {p50['draw']:.1f}", "ms",
               command=cmd),
        Figure("  the read with the garbage collector paused / running, p50",
               f"{p50['read, GC paused']:.1f} / {p50['read']:.1f}", "ms", command=cmd),
        Figure("  page size", round(kb["overview"]), "KB", command=cmd),
    ]
    for region in REGIONS:
        key = f"p/{region}"
        figures.append(Figure(f"GET /ui/p/{region} ({kb[key]:.1f} KB): p50 / p95", pair(key), "ms", command=cmd))
    figures.append(Figure(
        f"GET /ui/task/{shape['hub']} (a task {shape['hub_dependents']} tasks depend on, {kb['task']:.0f} KB): "
        "p50 / p95", pair("task"), "ms", command=cmd))
    return figures, {"p50_ms": p50, "p95_ms": p95, "sizes_bytes": got["sizes"], "shape": shape}


def table(details: dict[str, Any]) -> None:
    """The pages side by side: each one's time as a multiple of the warm overview's."""
    p50, p95, hub = details["p50_ms"], details["p95_ms"], details["shape"]["hub"]
    kb = {k: v / 1024 for k, v in details["sizes_bytes"].items()}
    rows = [("GET /ui/ cold", "overview cold"), ("GET /ui/ warm", "overview"),
            *((f"GET /ui/p/{r}", f"p/{r}") for r in REGIONS), (f"GET /ui/task/{hub}", "task"),
            ("GET /ui/ cold, gc frozen", "overview cold, frozen"), ("GET /ui/ warm, gc frozen", "overview, frozen")]
    print(f"\n  {'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'x warm':>7} {'KB':>6}")
    for label, key in rows:
        size = kb.get(key, kb["overview"])
        print(f"  {label:<24} {p50[key]:>8.1f} {p95[key]:>8.1f} {p50[key] / p50['overview']:>7.2f} {size:>6.1f}")


# ---------------------------------------------------------------- 2 and 3. a real server, browsers on SSE


class Browser:
    """One idle page's event stream: what arrived (event id, region, when) and the bytes read."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, float]] = []
        self.comments = 0
        self.bytes = 0
        self.opened = anyio.Event()
        self.ended = False

    async def read(self, base: str, url: str, wake: Any) -> None:
        """Its own client, as each browser has its own connection."""
        async with (
            httpx2.AsyncClient(base_url=base, timeout=httpx2.Timeout(BOUND, read=None)) as http,
            http.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code}")
            event_id = 0
            async for line in response.aiter_lines():
                self.bytes += len(line) + 1
                if line.startswith("retry:"):
                    self.opened.set()
                elif line.startswith(":"):
                    self.comments += 1
                elif line.startswith("id:"):
                    event_id = int(line[3:])
                elif line.startswith("event:"):
                    self.events.append((event_id, line[6:].strip(), time.perf_counter()))
                    wake()
        self.ended = True

    def heard(self, event_id: int) -> float | None:
        """When the first signal at or past `event_id` arrived."""
        return next((t for i, _, t in self.events if i >= event_id), None)


class Arrivals:
    """Wakes the benchmark when any stream reads an event (no polling of the streams)."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def wake(self) -> None:
        self.event.set()

    async def wait(self) -> None:
        await self.event.wait()
        self.event = anyio.Event()


def _newest_event(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


async def _live(db: Path, base: str, proc: Any, browsers: int, window: float, changes: int) -> dict[str, Any]:
    measure = _cpu_share(psutil.Process(proc.pid))
    await anyio.sleep(SETTLE_S)
    none_open = await measure(window)
    arrivals = Arrivals()
    opened = [Browser() for _ in range(browsers)]
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    out: dict[str, Any] = {"none_open_pct": none_open}
    async with anyio.create_task_group() as tg:
        for b in opened:
            tg.start_soon(b.read, base, f"/ui/events?r={SSE_REGIONS}", arrivals.wake)
        with anyio.fail_after(BOUND):
            for b in opened:
                await b.opened.wait()
        await anyio.sleep(SETTLE_S)
        before = sum(len(b.events) for b in opened), sum(b.bytes for b in opened)
        out["open_pct"] = await measure(window)
        out["idle_events"] = sum(len(b.events) for b in opened) - before[0]
        out["idle_bytes"] = sum(b.bytes for b in opened) - before[1]
        out["comments"] = sum(b.comments for b in opened)
        out["still_open"] = sum(1 for b in opened if not b.ended)
        out.update(await _latency(db, reader, opened, arrivals, changes))
        tg.cancel_scope.cancel()
    reader.close()
    return out


async def _latency(
    db: Path, reader: sqlite3.Connection, opened: list[Browser], arrivals: Arrivals, changes: int
) -> dict[str, Any]:
    first: list[float] = []
    last: list[float] = []
    from_return: list[float] = []
    rng = random.Random(11)
    async with AsyncExitStack() as stack:
        maker = await stack.enter_async_context(Client(stdio_params(db, "bench-maker"), mode="legacy"))
        # Which task: any open one; a priority change is a plain write every region's feed hears.
        listed = await maker.call_tool("task_list", {"status": ["ready"], "limit": 1})
        task = listed.structured_content["tasks"][0]
        code, priority = task["code"], task["priority"]
        for i in range(changes):
            await anyio.sleep(rng.uniform(0, JITTER))  # a change comes at any moment of the feed's look cycle
            t0 = time.perf_counter()
            res = await maker.call_tool("task_update", {"task": code, "priority": (priority + 1 + i) % 5})
            returned = time.perf_counter()
            if res.is_error:
                raise RuntimeError(f"task_update: {res.content[0].text}")
            newest = _newest_event(reader)
            with anyio.fail_after(BOUND):
                while any(b.heard(newest) is None for b in opened):
                    await arrivals.wait()
            heard = [b.heard(newest) for b in opened]
            first.append(min(heard) - t0)
            last.append(max(heard) - t0)
            from_return.append(min(heard) - returned)
    return {"first_s": first, "last_s": last, "from_return_s": from_return}


def live(db: Path, browsers: int, window: float, changes: int, tasks: int) -> tuple[list[Figure], dict[str, Any]]:
    with http_server(db, "bench-http") as (url, proc):
        got = anyio.run(_live, db, url.removesuffix("/mcp"), proc, browsers, window, changes)
    if got["still_open"] != browsers:
        raise RuntimeError(f"only {got['still_open']} of {browsers} streams lasted the window")
    cmd = (f"{PY} -m tests.benchmarks.bench_dashboard --only live --tasks {tasks} --browsers {browsers} "
           f"--window {window:g} --changes {changes}")
    o, z = got["open_pct"], got["none_open_pct"]
    ms = {k: [x * 1e3 for x in got[k]] for k in ("first_s", "last_s", "from_return_s")}

    def pair(key: str) -> str:
        return f"{median(ms[key]):.0f} / {pct(ms[key], 95):.0f}"

    figures = [
        Figure(f"taskloom serve --transport http, {browsers} idle browsers on /ui/events ({window:g} s window): "
               "server CPU", round(o, 2), "% of a core", f"< {GOAL_IDLE_PCT:g}", o < GOAL_IDLE_PCT, cmd),
        Figure(f"same server, no stream open / added by the {browsers} streams", f"{z:.2f} / {o - z:.2f}",
               "% of a core", command=cmd),
        Figure(f"  read by the {browsers} idle streams in the window: signals / bytes (keepalives every 15 s)",
               f"{got['idle_events']} / {got['idle_bytes']:,}", command=cmd),
        Figure(f"change to signal: task_update from another process to the SSE event line, first of {browsers} "
               f"streams, p50 / p95 ({changes} changes)", pair("first_s"), "ms", command=cmd),
        Figure(f"  the last of the {browsers} streams to hear it, p50 / p95", pair("last_s"), "ms", command=cmd),
        Figure("  from the tool call's return (lower bound), first stream, p50 / p95", pair("from_return_s"), "ms",
               command=cmd),
    ]
    return figures, {**{k: v for k, v in got.items() if not k.endswith("_s")}, "latency_ms": ms}


# ---------------------------------------------------------------- the benchmark

PARTS = ("render", "live")


def run(
    n: int = 10_000,
    k: int = 40,
    agents: int = 200,
    hub: int = 300,
    rounds: int = 20,
    browsers: int = 20,
    window: float = 60.0,
    changes: int = 20,
    only: tuple[str, ...] = PARTS,
    workdir: Path | None = None,
) -> dict[str, Any]:
    workdir = workdir_or_temp(workdir)
    db = workdir / "dashboard.db"
    t0 = time.perf_counter()
    shape = {**anyio.run(build, db, n, k, agents, hub), "tasks_asked": n}
    print(f"  built in {time.perf_counter() - t0:.1f} s: {shape}", flush=True)
    figures: list[Figure] = []
    details: dict[str, Any] = {"shape": shape}
    if "render" in only:
        got, details["render"] = render(db, rounds, shape)
        print_figures("dashboard render in process", got)
        table(details["render"])
        figures += got
    if "live" in only:
        got, details["live"] = live(db, browsers, window, changes, n)
        print_figures("idle browsers on SSE, change to signal", got)
        figures += got
    params = {"tasks": n, "streams": k, "agents": agents, "hub": hub, "rounds": rounds, "browsers": browsers,
              "window_s": window, "changes": changes, "only": list(only)}
    return result("dashboard", params, figures, details)


QUICK = {"rounds": 5, "window": 10.0}
FULL: dict[str, Any] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--streams", type=int, default=40)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--hub", type=int, default=300, help="tasks that depend on the task page's task")
    ap.add_argument("--rounds", type=int, default=20, help="requests of each page")
    ap.add_argument("--browsers", type=int, default=20, help="idle event streams")
    ap.add_argument("--window", type=float, default=60.0, help="seconds of each CPU window")
    ap.add_argument("--changes", type=int, default=20, help="changes timed to their signal")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS))
    ap.add_argument("--quick", action="store_true", help="5 rounds, 10 s windows")
    a = ap.parse_args()
    quick = QUICK if a.quick else {}
    script(run, n=a.tasks, k=a.streams, agents=a.agents, hub=a.hub, browsers=a.browsers,
           only=tuple(a.only.split(",")), **{"rounds": a.rounds, "window": a.window, "changes": a.changes, **quick})


if __name__ == "__main__":
    main()
