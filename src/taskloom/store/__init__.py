"""Storage: one interface, one folder of SQL per backend.

Services speak to a `Tx` by query name; each backend supplies the SQL for those names in its
own `queries/` folder, beside its schema and migrations. No SQL text lives outside a backend folder.
"""

from taskloom.store.base import Store, Tx

__all__ = ["Store", "Tx"]
