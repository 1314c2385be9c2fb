"""User text becomes an FTS5 expression of quoted strings and the operators built here, never
raw: checked as text, and run against a real FTS5 table so a quoting that reads right but parses
wrong still fails."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskloom.domain.search import MAX_QUERY_CHARS, MAX_TERMS, clean, fts5_query


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("index bug", '"index" AND "bug"'),
        ("index-bug v1.2", '"index-bug" AND "v1.2"'),
        ('"lease expiry" race', '"lease expiry" AND "race"'),
        ('say "hi', '"say" AND "hi"'),
        ('a"b', '"a""b"'),
        ("lease -flaky", '("lease") NOT "flaky"'),
        ('lease -"very flaky"', '("lease") NOT "very flaky"'),
        ("expiry OR flaky slow", '"expiry" OR "flaky" AND "slow"'),
        ("NEAR(a b) title:x ^y z*", '"NEAR(a" AND "b)" AND "title:x" AND "^y" AND "z*"'),
        ("AND NOT or", '"AND" AND "NOT"'),
    ],
)
def test_words_are_quoted_and_only_built_operators_appear(text, query):
    assert fts5_query(text) == query


@pytest.mark.parametrize("text", ["", "   ", "-only -excludes", "OR", "*** ^ :", "🙂", "\x00\x01"])
def test_text_with_no_word_to_look_for_is_no_query(text):
    assert fts5_query(text) is None


def test_a_long_query_is_cut_not_refused():
    assert len(clean("x" * 10_000)) == MAX_QUERY_CHARS
    assert fts5_query(" ".join(["w"] * 100)).count('"w"') == MAX_TERMS
    assert "\x00" not in clean("a\x00b") and clean("a\x00b") == "a b"


@pytest.fixture(scope="module")
def fts():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE s USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO s VALUES ('Index bug', 'the lease expiry is flaky, café \"quoted\" v1.2')")
    return conn


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=st.text(max_size=80) | st.lists(st.sampled_from(
    ['"', "-", "*", "^", "NEAR(", "title:", "(", ")", "OR", "NOT", "AND", "+", ":", "index", "bug", "\x00", "🙂"]),
    max_size=10).map(" ".join))
def test_any_text_makes_a_query_fts5_parses(fts, text):
    query = fts5_query(text)
    if query is not None:
        fts.execute("SELECT rowid FROM s WHERE s MATCH ?", (query,)).fetchall()


def test_the_built_queries_find_what_they_say(fts):
    def hits(text: str) -> int:
        return len(fts.execute("SELECT rowid FROM s WHERE s MATCH ?", (fts5_query(text),)).fetchall())

    assert hits("index-bug") == 1 and hits("bug-index") == 0  # a hyphenated word is a phrase
    assert hits("cafe v1.2") == 1 and hits('"lease expiry"') == 1 and hits('"expiry lease"') == 0
    assert hits("lease -flaky") == 0 and hits("zzz OR quoted") == 1
