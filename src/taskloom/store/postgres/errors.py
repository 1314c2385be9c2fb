"""psycopg's exceptions become taskloom's errors here, and nowhere else.

SQLSTATE classes say whose fault it is: 23 (a constraint) is the caller's conflict; 40 (a
serialisation failure or deadlock) and 55P03 (lock_timeout) are contention, retried by the
store and then `busy`; 08 (connection), 53 (resources) and 57 (the server shutting down) are
the database's, so `storage` names it, never the password.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import errors as pg

from taskloom.errors import Busy, Conflict, Internal, InvalidInput, Storage, TaskloomError
from taskloom.store.backends import shown

log = logging.getLogger(__name__)
RETRY = (pg.SerializationFailure, pg.DeadlockDetected)


def is_connection_fault(exc: BaseException) -> bool:
    """The connection broke (or never came): the server is down, restarting or unreachable."""
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled):
        state = getattr(exc, "sqlstate", None)
        return state is None or state[:2] in ("08", "57", "53")
    return isinstance(exc, psycopg.InterfaceError)


def unreachable(url: str, cause: BaseException | str) -> Storage:
    return Storage(
        f"Cannot reach the PostgreSQL database {shown(url)}: {_first_line(cause)}.",
        hint="Check that PostgreSQL is running and that the URL (host, port, database, user, password) is right; "
        "taskloom retries on its own for a while, so a server that is starting up needs no action.",
    )


def translate(exc: BaseException, url: str) -> TaskloomError:
    if isinstance(exc, TaskloomError):
        return exc
    if isinstance(exc, UnicodeEncodeError | pg.UntranslatableCharacter | pg.CharacterNotInRepertoire):
        return InvalidInput(
            "A text argument is not valid Unicode (it has an unpaired surrogate or a NUL).",
            hint="Send well-formed UTF-8 text; binary data belongs in artifacts_upload's content_base64.",
        )
    if isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
        # SQLite stores a NUL character; PostgreSQL's text cannot hold one (psycopg refuses it
        # before sending), so on this backend it is the caller's input to fix.
        return InvalidInput(
            "A text argument contains a NUL character (\\x00), which the PostgreSQL database cannot store.",
            hint="Remove the NUL characters from the text; binary data belongs in artifacts_upload's content_base64.",
        )
    if isinstance(exc, OverflowError | pg.NumericValueOutOfRange):
        return InvalidInput(
            "A number is out of range (integers must fit in 64 bits).", hint="Send a smaller number."
        )
    if isinstance(exc, pg.IntegrityError):
        return Conflict(f"The change conflicts with existing data: {_first_line(exc)}.")
    if isinstance(exc, (*RETRY, pg.LockNotAvailable)):
        return Busy(f"The database stayed locked by other writers: {_first_line(exc)}.")
    if is_connection_fault(exc):
        return unreachable(url, exc)
    if isinstance(exc, pg.QueryCanceled):
        return Busy(f"A database statement ran past its time limit: {_first_line(exc)}.")
    if isinstance(exc, pg.DiskFull | pg.InsufficientResources):
        return Storage(
            f"The PostgreSQL server is out of resources: {_first_line(exc)}.",
            hint="Free space on the server and retry.",
        )
    log.error("unexpected PostgreSQL error", exc_info=exc)
    return Internal("The database reported an unexpected error; nothing was changed.")


def _first_line(exc: BaseException | str) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
