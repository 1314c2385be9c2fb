"""Pure rules: statuses and transitions, limits, the dependency graph. No SQL, no MCP."""
