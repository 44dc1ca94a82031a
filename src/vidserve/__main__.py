"""``python -m vidserve``: the CLI."""

from vidserve.cli import main

raise SystemExit(main())
