"""`python -m fashion_lib ...` entry point."""

from fashion_lib.cli import main

raise SystemExit(main())
