"""Rules: pure functions from (state, reading) to (state, crossing)."""

from __future__ import annotations
