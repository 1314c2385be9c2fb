"""The PostgreSQL backend: psycopg 3 (sync) on the store's own database threads.

Loaded only when `--db` names a `postgresql://` database (store/backends.py), so a SQLite user
never imports psycopg.
"""
