"""The duty office's records: the duty log (值班记录)."""

from __future__ import annotations
