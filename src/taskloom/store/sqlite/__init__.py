"""The SQLite backend: the default, shared safely by many server processes on one machine."""

from taskloom.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
