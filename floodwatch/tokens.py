"""Per-person tokens for the acknowledgement API: issued by an administrator (`floodwatch user
token PERSON`), shown once, kept only as their SHA-256, revoked by issuing a new one."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update

from floodwatch.store import Database
from floodwatch.store.models import ApiTokenRow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(db: Database, person: str, now: datetime) -> str:
    """A new token for `person`; the person's earlier tokens stop working."""
    token = "fw_" + secrets.token_urlsafe(32)
    with db.transaction() as session:
        session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.person == person, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.add(ApiTokenRow(person=person, token_sha256=_digest(token), created_at=now))
    return token


def person_for(db: Database, token: str) -> str | None:
    """Whose token this is (None: unknown or revoked)."""
    with db.sessions() as session:
        return session.scalar(
            select(ApiTokenRow.person).where(
                ApiTokenRow.token_sha256 == _digest(token), ApiTokenRow.revoked_at.is_(None)
            )
        )
