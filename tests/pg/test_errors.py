"""psycopg's errors become taskloom's, with stable codes and no password (store/postgres/errors.py)."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg")
from psycopg import errors as pg

from taskloom.store.postgres.errors import translate

URL = "postgresql://ann:s3cret@db.local/team"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (pg.DeadlockDetected("deadlock detected"), "busy"),
        (pg.SerializationFailure("could not serialize access"), "busy"),
        (pg.LockNotAvailable("canceling statement due to lock timeout"), "busy"),
        (pg.QueryCanceled("canceling statement due to statement timeout"), "busy"),
        (pg.UniqueViolation("duplicate key value violates unique constraint"), "conflict"),
        (pg.ForeignKeyViolation("violates foreign key constraint"), "conflict"),
        (pg.NumericValueOutOfRange("bigint out of range"), "invalid_input"),
        (pg.UntranslatableCharacter("unsupported Unicode escape sequence"), "invalid_input"),
        (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), "invalid_input"),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), "invalid_input"),
        (psycopg.OperationalError("connection to server at 127.0.0.1 failed"), "storage"),
        (pg.AdminShutdown("terminating connection due to administrator command"), "storage"),
        (pg.DiskFull("could not extend file"), "storage"),
        (pg.UndefinedTable('relation "tasks" does not exist'), "internal"),
    ],
)
def test_each_kind_of_database_error_has_its_stable_code(exc: Exception, code: str) -> None:
    err = translate(exc, URL)
    assert err.code == code
    assert "s3cret" not in err.message + (err.hint or "")


def test_an_internal_error_hides_the_database_text() -> None:
    err = translate(pg.UndefinedTable('relation "tasks" does not exist'), URL)
    assert "tasks" not in err.message and "nothing was changed" in err.message


async def test_a_nul_in_a_title_is_invalid_input_through_the_tool_and_nothing_is_stored(client, app) -> None:
    from tests.conftest import call, call_error

    err = await call_error(client, "task_create", tasks=[{"code": "N", "title": "a\x00b"}])
    assert err["code"] == "invalid_input" and "NUL" in err["message"]
    assert (await call(client, "task_list"))["tasks"] == []
