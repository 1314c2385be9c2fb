"""Search at 100k tasks and 300k notes: p50 and p95 per query through the service, and the cost
an MCP call adds.

    .venv/bin/python -m tests.benchmarks.bench_search [--tasks 100000] [--notes 300000]
        [--backend sqlite|postgresql] [--keep DIR] [--db-url URL]

The rows go straight into the store's tables with executemany, in one transaction (a fixture,
not a test); the search index is filled by its triggers, as for any write. Text is drawn from a
vocabulary of 8,000 made-up words with Zipf frequencies, so a few words are in most documents
(like "the") and most are rare. About 200 queries: common words (which match more documents than
the rank window, so are ranked among their newest matches), mid and rare words, two-word queries,
exact phrases taken from the documents, and filtered queries (kind, status, stream, author).
Each runs twice; the second run is timed. Then 50 of them through a real stdio server's `search`
tool, beside the same 50 through the service: the difference is what MCP adds. `--keep DIR`
keeps (and on the next run reuses) the SQLite file: building it takes minutes. `--db-url URL`
does the same for PostgreSQL: an empty database there is built, a built one reused (keep a
cluster running for it: `tests.pg.cluster`).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import (
    PY,
    Figure,
    checkpoint,
    median,
    pct,
    print_figures,
    result,
    script,
    stdio_params,
    workdir_or_temp,
)

GOAL_MS = 20.0
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "si", "po", "ve", "de", "fa", "gu", "ho", "ji", "zu", "ba"]
STATUSES = ["ready", "waiting", "in_progress", "done", "done", "done", "cancelled", "review"]
STREAMS = 20
AUTHORS = 20
MCP_QUERIES = 50


class Corpus:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        words = {"".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4))) for _ in range(20_000)}
        self.vocab = sorted(words)[:8000]
        self.rng.shuffle(self.vocab)
        self.weights = [1 / (i + 1) for i in range(len(self.vocab))]

    def words(self, lo: int, hi: int) -> str:
        return " ".join(self.rng.choices(self.vocab, self.weights, k=self.rng.randint(lo, hi)))


def _rows(corpus: Corpus, project: int, tasks: int, notes: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    rng = corpus.rng
    streams = [(i, project, f"s{i}", f"stream {i}", 0.0) for i in range(1, STREAMS + 1)]
    task_rows = [
        (i, project, f"T-{i}", corpus.words(4, 8), corpus.words(15, 40), rng.choice(STATUSES),
         rng.randint(1, STREAMS), f"a{i % AUTHORS}", 1_800_000_000.0 + i)
        for i in range(1, tasks + 1)
    ]
    note_rows = [
        (i, rng.randint(1, tasks), "note", corpus.words(8, 30), f"a{i % AUTHORS}", 1_800_000_000.0 + i)
        for i in range(1, notes + 1)
    ]
    return streams, task_rows, note_rows


def _insert_sqlite(conn: Any, streams: list[tuple], tasks: list[tuple], notes: list[tuple]) -> None:
    conn.executemany("INSERT INTO streams (id, project_id, code, name, created_at) VALUES (?,?,?,?,?)", streams)
    conn.executemany(
        "INSERT INTO tasks (id, project_id, code, title, description, status, stream_id, created_by, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)", tasks)
    conn.executemany("INSERT INTO notes (id, task_id, kind, body, agent, created_at) VALUES (?,?,?,?,?,?)", notes)


def _insert_pg(url: str, project: int, streams: list[tuple], tasks: list[tuple], notes: list[tuple]) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO streams (id, project_id, code, name, created_at) VALUES (%s,%s,%s,%s,%s)",
                        streams)
        cur.executemany(
            "INSERT INTO tasks (id, project_id, code, title, description, status, stream_id, created_by, created_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", tasks)
        cur.executemany("INSERT INTO notes (id, task_id, kind, body, agent, created_at) VALUES (%s,%s,%s,%s,%s,%s)",
                        notes)
        for table in ("streams", "tasks", "notes"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cur.execute("ANALYZE")


def _queries(corpus: Corpus, docs: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(category, query, filters), about 200."""
    rng = random.Random(11)
    v = corpus.vocab
    out: list[tuple[str, str, dict[str, Any]]] = []
    out += [("common word", v[i], {}) for i in range(30)]
    out += [("mid word", v[i], {}) for i in rng.sample(range(100, 2000), 50)]
    out += [("rare word", v[i], {}) for i in rng.sample(range(4000, 8000), 40)]
    out += [("two words", f"{v[i]} {v[j]}", {}) for i, j in zip(rng.sample(range(300), 30),
                                                                   rng.sample(range(50, 1500), 30), strict=True)]
    for doc in rng.sample(docs, 25):
        words = doc.split()
        at = rng.randrange(max(1, len(words) - 2))
        out.append(("phrase", '"' + " ".join(words[at:at + 2]) + '"', {}))
    filters = [{"kind": "note"}, {"kind": "task"}, {"status": "done"}, {"status": "in_progress"},
               {"stream": "s3"}, {"author": "a5"}]
    out += [("filtered", v[i], filters[k % len(filters)]) for k, i in enumerate(rng.sample(range(1500), 25))]
    return out


@contextmanager
def _database(backend: str, workdir: Path, keep: Path | None, db_url: str | None) -> Iterator[tuple[Any, bool]]:
    """(Settings, whether it already holds the data)."""
    from taskloom.config import Settings

    if db_url:
        yield Settings(db_url=db_url, project="bench", default_agent="bench"), _complete_pg(db_url)
        return
    if backend == "sqlite":
        folder = keep or workdir
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "search.db"
        yield Settings(db_path=db, project="bench", default_agent="bench"), _complete(db)
        return
    from tests.pg.cluster import cluster

    with cluster() as pg:
        url = pg.create_database("search_bench")
        yield Settings(db_url=url, project="bench", default_agent="bench"), False


def _complete(db: Path) -> bool:
    """A kept file from a run that finished building (a cut-short build left no tasks)."""
    import sqlite3

    if not db.exists():
        return False
    with sqlite3.connect(db) as conn:
        return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'tasks'").fetchone()[0]) and \
            conn.execute("SELECT count(*) FROM tasks").fetchone()[0] > 0


def _complete_pg(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('tasks')").fetchone()[0] is None:
            return False
        return conn.execute("SELECT count(*) FROM tasks").fetchone()[0] > 0


async def _build(settings: Any, tasks: int, notes: int) -> tuple[float, list[str], Corpus]:
    from taskloom.services.app import Taskloom

    corpus = Corpus()
    app = await Taskloom.open(settings)
    try:
        streams, task_rows, note_rows = _rows(corpus, app.project_id, tasks, notes)
        started = time.perf_counter()
        if settings.db_url:
            await anyio.to_thread.run_sync(_insert_pg, settings.db_url, app.project_id, streams, task_rows, note_rows)
        else:
            await app.store.write_raw(lambda conn: _insert_sqlite(conn, streams, task_rows, note_rows))
        took = time.perf_counter() - started
    finally:
        await app.close()
    if not settings.db_url:
        checkpoint(settings.db_path)
    return took, [r[4] for r in task_rows[:5000]] + [r[3] for r in note_rows[:5000]], corpus


async def _service_ms(settings: Any, queries: list[tuple[str, str, dict[str, Any]]]) -> dict[str, list[float]]:
    from taskloom.services import search
    from taskloom.services.app import Taskloom

    app = await Taskloom.open(settings, create_project=False)
    try:
        times: dict[str, list[float]] = {}
        for timed in (False, True):
            for category, text, filters in queries:
                started = time.perf_counter()
                got = await app.read(search.search, text, **filters)
                if timed:
                    times.setdefault(category, []).append((time.perf_counter() - started) * 1000)
                    # Which answers were ranked: those saying nothing about too many matches.
                    times.setdefault(f"{category} (ranked)", []).append(float(not got.message))
        return times
    finally:
        await app.close()


async def _mcp_ms(settings: Any, queries: list[str]) -> list[float]:
    from mcp import ClientSession, stdio_client

    params = stdio_params(settings.db_url or settings.db_path, "bench")
    times = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for timed in (False, True):
            for text in queries:
                started = time.perf_counter()
                got = await session.call_tool("search", {"query": text})
                assert not got.is_error, got.content
                if timed:
                    times.append((time.perf_counter() - started) * 1000)
    return times


def run(workdir: Path | None = None, tasks: int = 100_000, notes: int = 300_000, backend: str = "sqlite",
        keep: Path | None = None, db_url: str | None = None) -> dict[str, Any]:
    workdir = workdir_or_temp(workdir)
    command = f"{PY} -m tests.benchmarks.bench_search --tasks {tasks} --notes {notes} --backend {backend}"
    with _database(backend, workdir, keep, db_url) as (settings, built):
        build_s = None
        corpus = Corpus()
        if built:
            # The same seed draws the same documents: the phrases come from them.
            _, task_rows, note_rows = _rows(corpus, 1, tasks, notes)
            docs = [r[4] for r in task_rows[:5000]] + [r[3] for r in note_rows[:5000]]
        else:
            build_s, docs, corpus = anyio.run(_build, settings, tasks, notes)
        queries = _queries(corpus, docs)
        times = anyio.run(_service_ms, settings, queries)
        sample = [text for _, text, filters in queries if not filters][::3][:MCP_QUERIES]
        by_service = anyio.run(_service_ms, settings, [("x", t, {}) for t in sample])["x"]
        by_mcp = anyio.run(_mcp_ms, settings, sample)
    ranked = {c.removesuffix(" (ranked)"): v for c, v in times.items() if c.endswith(" (ranked)")}
    times = {c: v for c, v in times.items() if not c.endswith(" (ranked)")}
    every = [ms for values in times.values() for ms in values]
    figures = [
        Figure(f"search p95, {len(every)} queries ({backend})", pct(every, 95), "ms", f"< {GOAL_MS:g} ms",
               pct(every, 95) < GOAL_MS, command),
        Figure(f"search p50, {len(every)} queries ({backend})", median(every), "ms", command=command),
    ]
    figures += [Figure(f"  {category}: p50 / p95 ({len(ms)}, {sum(ranked[category]):.0f} ranked)",
                       f"{median(ms):.2f} / {pct(ms, 95):.2f}", "ms", command=command)
                for category, ms in times.items()]
    figures.append(Figure(f"an MCP call over stdio adds (p50 of {len(sample)})", median(by_mcp) - median(by_service),
                          "ms", command=command))
    if build_s is not None:
        figures.append(Figure(f"building {tasks:,} tasks and {notes:,} notes, index by triggers", build_s, "s"))
    print_figures(f"Search, {tasks:,} tasks and {notes:,} notes ({backend})", figures)
    details = {"ms": times, "ranked": ranked, "mcp_ms": by_mcp, "service_ms_same_queries": by_service, "build_s": build_s}
    return result("search", {"tasks": tasks, "notes": notes, "backend": backend}, figures, details)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--notes", type=int, default=300_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--keep", type=Path, help="keep the SQLite file in this folder, and reuse it next time")
    parser.add_argument("--db-url", help="a PostgreSQL database to build in (when empty) or reuse (implies postgresql)")
    args = parser.parse_args()
    backend = "postgresql" if args.db_url else args.backend
    script(run, tasks=args.tasks, notes=args.notes, backend=backend, keep=args.keep, db_url=args.db_url)
