"""`python -m floodwatch` is the `floodwatch` command."""

from __future__ import annotations

from floodwatch.cli import main

main()
