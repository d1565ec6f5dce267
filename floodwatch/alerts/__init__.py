"""Alert lifecycle and escalation decisions (pure)."""

from __future__ import annotations
