"""Every backend defines every query name the code uses, and nothing the code never uses.

Services speak to a `Tx` by query name, so a name missing from one backend's `queries/` folder
fails only when that line runs, perhaps in production on the other backend. These tests read the
names off the source instead: every call of a `Tx` method (read from the protocol in
store/base.py) whose first argument is a string. Parametrised by backend.

PostgreSQL's queries are ported in two halves on two branches (h-pgsql-a, h-pgsql-b): until both
are merged its folder lacks names, so the checks that need the whole set are expected to fail
for it (xfail, not strict: they pass, and say so, once both halves are in). Each file that is
there must already define exactly the names of SQLite's file of the same name.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import taskloom
from taskloom.store import queries
from taskloom.store.base import Tx

SRC = Path(taskloom.__file__).parent
TESTS = Path(__file__).parents[1]
BACKENDS = {
    "sqlite": SRC / "store" / "sqlite" / "queries",
    "postgres": SRC / "store" / "postgres" / "queries",
}
COMPLETE = sorted(BACKENDS)
TX_METHODS = frozenset(name for name, _ in inspect.getmembers(Tx, inspect.isfunction) if not name.startswith("_"))
# The wrapper that forwards a caller's query name unchanged: it is not a use of its own.
FORWARDERS = {SRC / "store" / "guard.py"}
# Defined and used by no code; kept until someone decides (docs/postgres-port.md lists them).
UNUSED: frozenset[str] = frozenset()


def _tx_calls(folder: Path) -> list[tuple[Path, ast.Call]]:
    calls = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TX_METHODS:
                calls.append((path, node))
    return calls


def _name(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def used_names() -> dict[str, list[str]]:
    """Query name -> where it is used, in the package and in the tests (tests run on every backend)."""
    used: dict[str, list[str]] = {}
    for folder in (SRC, TESTS):
        for path, call in _tx_calls(folder):
            name = _name(call)
            if name is not None:
                used.setdefault(name, []).append(f"{path.relative_to(folder.parent)}:{call.lineno}")
    return used


def test_the_tx_methods_are_read_from_the_protocol() -> None:
    assert {"one", "all", "scalar", "run", "many"} <= TX_METHODS


def test_every_query_name_in_the_package_is_a_literal() -> None:
    """A name built at run time (f"{kind}_by_code") hides from the checks below: spell it out."""
    hidden = [
        f"{path.relative_to(SRC.parent)}:{call.lineno}: {ast.unparse(call)[:80]}"
        for path, call in _tx_calls(SRC)
        if path not in FORWARDERS
        and _name(call) is None
        and ast.unparse(call.func.value).lower().endswith("tx")  # anyio.run(fn) and the like are not queries
    ]
    assert hidden == []


@pytest.mark.parametrize("backend", COMPLETE)
def test_every_query_name_used_in_the_code_exists_in_the_backend(backend: str) -> None:
    defined = queries.load_dir(BACKENDS[backend])
    missing = {name: where for name, where in used_names().items() if name not in defined}
    assert missing == {}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_named_query_of_the_backend_is_used(backend: str) -> None:
    unused = set(queries.load_dir(BACKENDS[backend])) - set(used_names())
    assert unused == UNUSED, "a query no code uses: delete it, or list it in UNUSED with a reason"


def test_the_scan_finds_the_claim_path() -> None:
    """The scan itself works: names known to be used are found where they are."""
    used = used_names()
    assert any(w.startswith("taskloom/services/") for w in used["claim_next"])
    assert any(w.startswith("taskloom/services/common.py") for w in used["stream_by_code"])


def test_a_query_name_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: task_get\nSELECT 1;\n", encoding="utf-8")
    (tmp_path / "b.sql").write_text("-- name: task_get\nSELECT 2;\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'task_get' is defined twice"):
        queries.load_dir(tmp_path)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_each_query_file_of_the_backend_loads_on_its_own(backend: str) -> None:
    """Files split by noun: every name lives in exactly one of them."""
    per_file = [queries.load(path) for path in sorted(BACKENDS[backend].glob("*.sql"))]
    assert all(per_file), "a query file with no named query"
    assert sum(len(names) for names in per_file) == len(queries.load_dir(BACKENDS[backend]))


@pytest.mark.parametrize("backend", ["postgres"])
def test_every_backend_has_the_query_files_of_sqlite(backend: str) -> None:
    assert sorted(p.name for p in BACKENDS[backend].glob("*.sql")) == \
        sorted(p.name for p in BACKENDS["sqlite"].glob("*.sql"))


@pytest.mark.parametrize("backend", sorted(set(BACKENDS) - {"sqlite"}))
def test_each_query_file_of_the_backend_defines_the_names_of_sqlites_file(backend: str) -> None:
    """Same file names, same query names: a query is found in the same place on every backend."""
    differ = {}
    for path in sorted(BACKENDS[backend].glob("*.sql")):
        lite = BACKENDS["sqlite"] / path.name
        mine = set(queries.load(path))
        theirs = set(queries.load(lite)) if lite.exists() else set()
        if mine != theirs:
            differ[path.name] = {"only here": sorted(mine - theirs), "only in sqlite": sorted(theirs - mine)}
    assert differ == {}
