"""Name globs become LIKE patterns (escape '\\') that match exactly what the glob means.

Checked two ways: the pattern text itself, and the pattern run by SQLite's LIKE against names,
so an escape that reads right but matches wrong still fails.
"""

from __future__ import annotations

import sqlite3

import pytest

from taskloom.domain.globs import glob_to_like, name_filter


@pytest.mark.parametrize(
    ("glob", "like"),
    [
        ("*.md", "%.md"),
        ("report?.txt", "report_.txt"),
        ("100%", "100\\%"),
        ("snake_case", "snake\\_case"),
        ("back\\slash", "back\\\\slash"),
        ("shot [2].png", "shot [2].png"),
        ("a**b", "a%b"),
        ("*\\%*", "%\\\\\\%%"),
    ],
)
def test_a_glob_becomes_a_like_pattern_with_only_star_and_question_mark_as_wildcards(glob, like):
    assert glob_to_like(glob) == like


def _matches(pattern: str, names: list[str]) -> list[str]:
    conn = sqlite3.connect(":memory:")
    try:
        return [n for n in names if conn.execute("SELECT ? LIKE ? ESCAPE '\\'", (n, pattern)).fetchone()[0]]
    finally:
        conn.close()


NAMES = ["100%.txt", "1000.txt", "a_b.md", "axb.md", "shot [2].png", "shot 2.png", "star*.log", "stars.log",
         "what?.txt", "whatx.txt", "back\\slash", "backslash"]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("%", ["100%.txt"]),
        ("_", ["a_b.md"]),
        ("\\", ["back\\slash"]),
        ("[2]", ["shot [2].png"]),
        ("shot [2]*", ["shot [2].png"]),
        ("*.MD", ["a_b.md", "axb.md"]),
        ("star?.log", ["star*.log", "stars.log"]),
        ("what?.txt", ["what?.txt", "whatx.txt"]),
        ("*", NAMES),
        ("1000", ["1000.txt"]),
    ],
)
def test_a_name_filter_is_a_substring_unless_it_has_a_wildcard_and_special_characters_match_themselves(typed, found):
    assert _matches(name_filter(typed), NAMES) == found
