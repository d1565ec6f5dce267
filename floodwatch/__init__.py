"""floodwatch: flood-season duty rosters, gauge watching and emergency alerting."""

from __future__ import annotations

__version__ = "0.1.0"
