"""The runner: starts and supervises headless agents for ready work (`taskloom run`)."""
