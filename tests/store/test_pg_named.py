"""The `:name` rewrite for PostgreSQL (store/postgres/named.py): pure text, no database needed."""

from __future__ import annotations

from taskloom.store.postgres.named import numbered, pyformat


def test_parameters_become_psycopg_placeholders_and_casts_stay() -> None:
    assert pyformat("SELECT * FROM t WHERE (:role::text IS NULL OR role = :role)") == (
        "SELECT * FROM t WHERE (%(role)s::text IS NULL OR role = %(role)s)"
    )


def test_colons_inside_strings_identifiers_and_comments_are_not_parameters() -> None:
    sql = "SELECT 'task:x' AS \":odd\" -- see :nothing\nFROM t WHERE r >= 'task:' AND a = :a"
    assert pyformat(sql) == "SELECT 'task:x' AS \":odd\" -- see :nothing\nFROM t WHERE r >= 'task:' AND a = %(a)s"


def test_every_literal_percent_is_doubled_for_psycopg() -> None:
    assert pyformat("SELECT 1 WHERE kind LIKE 'task.%' AND x = :x -- 100%") == (
        "SELECT 1 WHERE kind LIKE 'task.%%' AND x = %(x)s -- 100%%"
    )


def test_a_quote_doubled_inside_a_string_does_not_end_it() -> None:
    assert pyformat("SELECT 'it''s :not' || :yes") == "SELECT 'it''s :not' || %(yes)s"


def test_numbered_gives_one_number_per_distinct_name_in_order_of_first_use() -> None:
    assert numbered("SELECT :b, :a::int, :b, '%:c'") == ("SELECT $1, $2::int, $1, '%:c'", ["b", "a"])
