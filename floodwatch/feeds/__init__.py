"""Feeds: each source yields Readings. Feeds never decide and never page."""

from __future__ import annotations
