"""The PostgreSQL backend: one project served by several taskloom servers (issue 15)."""
