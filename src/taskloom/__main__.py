"""`python -m taskloom`: how the runner starts taskloom for its workers, needing no PATH."""

from taskloom.cli.main import main

raise SystemExit(main())
