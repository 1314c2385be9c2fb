"""Use cases, one module per noun.

Each use case is a plain function over a `Tx` that runs whole inside one store transaction
(one thread hop for SQLite), so a claim or a completion and everything it implies commit
together or not at all. `taskloom.services.app.Taskloom` is the async facade the server and
the CLI call.
"""
