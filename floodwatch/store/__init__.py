"""Storage: SQLAlchemy tables, engines and Alembic migrations."""

from __future__ import annotations

from floodwatch.store.db import Database

__all__ = ["Database"]
