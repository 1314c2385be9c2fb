"""Status sets are written once, in domain/statuses.py, and named in the queries of every backend.

A query says `status IN {HELD}`; the loader expands it to the literal list. A query that spells a
set out instead (`IN ('in_progress', 'blocked')`) would let the backends drift apart from the
domain and from each other, so the scan below refuses it in every `store/*/queries/` folder,
including backends added after this test was written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import taskloom
from taskloom.domain import statuses
from taskloom.domain.statuses import STATUS_SETS, SprintStatus, StreamStatus, TaskStatus
from taskloom.store import queries

STORE = Path(taskloom.__file__).parent / "store"
FOLDERS = sorted(STORE.glob("*/queries"))
STATUS_NAMES = {str(s) for enum in (TaskStatus, StreamStatus, SprintStatus) for s in enum}
# A parenthesised list of quoted literals, over any whitespace and line breaks.
LITERAL_LIST = re.compile(r"\(\s*'[^']*'(?:\s*,\s*'[^']*')+\s*\)")
# The same set spelled as comparisons: status = 'done' OR status = 'cancelled'.
OR_CHAIN = re.compile(r"(?:\w+\.)?(\w*status)\s*=\s*'(\w+)'\s+OR\s+(?:\w+\.)?\1\s*=\s*'(\w+)'", re.IGNORECASE)


def spelled_out_sets(text: str) -> list[str]:
    """Each list of two or more status literals in a query file's text, as `query: the list`.

    Read from the raw text, not through the loader, which would expand the placeholders into
    exactly the lists this looks for. Comment lines are left out: prose may name a set.
    """
    found = []
    for name, body in re.findall(r"^--\s*name:\s*(\w+)\s*$(.*?)(?=^--\s*name:|\Z)", text, re.MULTILINE | re.DOTALL):
        code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))
        for match in LITERAL_LIST.finditer(code):
            if len(set(re.findall(r"'([^']*)'", match.group(0))) & STATUS_NAMES) >= 2:
                found.append(f"{name}: {' '.join(match.group(0).split())}")
        for match in OR_CHAIN.finditer(code):
            if {match.group(2), match.group(3)} <= STATUS_NAMES:
                found.append(f"{name}: {match.group(0)}")
    return found


def test_the_scan_finds_every_backend_folder() -> None:
    assert STORE / "sqlite" / "queries" in FOLDERS


def test_the_scan_sees_a_set_spelled_out_in_any_shape() -> None:
    text = """-- name: a
-- a comment may say ('done', 'cancelled')
SELECT 1 FROM tasks WHERE status NOT IN ('done', 'cancelled');
-- name: b
SELECT 1 FROM tasks WHERE status IN
        ('backlog',
         'failed') AND kind IN ('note', 'system');
-- name: c
SELECT 1 FROM tasks t WHERE t.status = 'done' OR t.status = 'cancelled';
-- name: d
SELECT 1 FROM tasks WHERE status IN {TERMINAL} AND status = 'ready' AND kind IN ('note', 'done');
"""
    found = spelled_out_sets(text)
    assert len(found) == 3, found
    assert found == [
        "a: ('done', 'cancelled')",
        "b: ('backlog', 'failed')",
        "c: t.status = 'done' OR t.status = 'cancelled'",
    ]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.parent.name)
def test_no_query_of_any_backend_spells_out_a_status_set(folder: Path) -> None:
    spelled = {
        f"{path.name}: {where}": "name it in domain/statuses.py and write {NAME}"
        for path in sorted(folder.glob("*.sql"))
        for where in spelled_out_sets(path.read_text(encoding="utf-8"))
    }
    assert spelled == {}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.parent.name)
def test_every_placeholder_of_every_backend_expands(folder: Path) -> None:
    loaded = queries.load_dir(folder)
    assert [name for name, sql in loaded.items() if re.search(r"\{[A-Z_]+\}", sql)] == []
    assert any("('done', 'cancelled')" in sql for sql in loaded.values()), "no query uses a status set at all"


def test_a_placeholder_expands_to_the_literal_list_of_the_domain_set(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text(
        "-- name: t\nSELECT id FROM tasks WHERE status IN {HELD} AND parent_id NOT IN {SATISFIED};\n",
        encoding="utf-8",
    )
    assert queries.load(path) == {
        "t": "SELECT id FROM tasks WHERE status IN ('in_progress', 'blocked') AND parent_id NOT IN ('done', 'cancelled')"
    }


@pytest.mark.parametrize("name", sorted(STATUS_SETS))
def test_each_named_set_expands_to_exactly_its_members_in_the_enums_order(name: str) -> None:
    sql = queries.expand("test", f"{{{name}}}")
    members = re.findall(r"'([^']*)'", sql)
    assert set(members) == {str(s) for s in STATUS_SETS[name]}
    assert members == sorted(members, key=[str(s) for s in TaskStatus].index)


def test_every_set_a_query_can_name_is_the_domains_constant_of_that_name() -> None:
    assert all(getattr(statuses, name) is members for name, members in STATUS_SETS.items())
    assert all(len(members) >= 2 for members in STATUS_SETS.values()), "a single status needs no set"


def test_an_unknown_placeholder_fails_at_load_naming_the_query(tmp_path: Path) -> None:
    path = tmp_path / "claims.sql"
    path.write_text(
        "-- name: fine\nSELECT 1;\n-- name: task_held_typo\nSELECT id FROM tasks WHERE status IN {HELDD};\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"claims\.sql: query 'task_held_typo' uses \{HELDD\}, which is no status"):
        queries.load(path)


def test_json_and_array_literals_are_not_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text("-- name: t\nSELECT coalesce(x, '{}'), '{a,b}', '{\"k\": 1}' FROM y;\n", encoding="utf-8")
    assert queries.load(path)["t"] == "SELECT coalesce(x, '{}'), '{a,b}', '{\"k\": 1}' FROM y"
