"""`python -m handover_miaw` is the same as the `handover-miaw` command."""

from handover_miaw.cli import main

raise SystemExit(main())
