"""`taskloom serve` with PostgreSQL's write lock turned off: a diagnostic for bench_pg_replicas
(`--unlocked`), to show what serialising every write costs. Not safe for real work: without
the lock two completers can each miss the other's commit and leave a dependent waiting, and
event ids can commit out of order (tests/pg/test_write_lock.py shows both). The benchmark's
tasks have no dependencies and nothing reads the change feed, so its figures stay right.

    .venv/bin/python -m tests.benchmarks.pg_unlocked_server --transport http --db postgresql://... (any serve option)
"""

from __future__ import annotations

import sys

from taskloom.cli.main import main as taskloom_main
from taskloom.store.postgres.store import PgStore

if __name__ == "__main__":
    PgStore._lock_writes = False
    raise SystemExit(taskloom_main(["serve", *sys.argv[1:]]))
