"""The `taskloom` command: serve, status, import, tools-md."""
