"""People's passwords for the duty console: set by an administrator (`floodwatch user
set-password PERSON`, or the console's People page), kept only as argon2id hashes.

A password belongs to a roster id. Whoever is no longer in the rosters cannot sign in, whatever
is stored (the console checks the roster at every request). Setting a new password raises the
person's `generation`: sessions signed for the old one stop working.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.i18n import Refused, Unknown, _
from floodwatch.roster.model import Roster
from floodwatch.store import Database
from floodwatch.store.models import UserRow

log = logging.getLogger(__name__)

MIN_LENGTH = 8
MAX_LENGTH = 256  # argon2 hashes any length; a megabyte "password" is only a way to slow us
DEMO = "demo"  # set_by of the demo's users (config: web.demo_users)

SERVICE_HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106) parameters
_HASHER = SERVICE_HASHER
# checked when a person has no password, so the answer takes as long as a wrong password;
# made by `ready()` (the web app calls it when it is built), not at import: a hash takes
# 0.15 s, and every command imports this module
_DUMMY: str | None = None


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with `hasher` from now on (a hash keeps the parameters it was made
    with; `verify` rehashes one made with other parameters). The service never calls this:
    the test suite does, with argon2id at its lowest cost, since the console tests hash and
    check passwords thousands of times at 0.15 s each."""
    global _HASHER, _DUMMY
    _HASHER = hasher
    _DUMMY = None
    ready()


def ready() -> str:
    """The hash checked in place of a missing password (made once, by the hasher in use)."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _HASHER.hash("floodwatch: nobody has this password")
    return _DUMMY


def check_password_rules(password: str) -> None:
    """Refused (in the reader's language) for a password too short or too long."""
    if len(password) < MIN_LENGTH:
        raise Refused(
            _("the password has {n} characters; it needs at least {min}",
              n=len(password), min=MIN_LENGTH)
        )  # fmt: skip
    if len(password) > MAX_LENGTH:
        raise Refused(_("the password is longer than {max} characters", max=MAX_LENGTH))
    if not password.strip():
        raise Refused(_("the password is only spaces"))


def set_password(
    db: Database, roster: Roster, person: str, password: str, by: str, now: datetime
) -> int:
    """Give `person` (a roster id) a new password; returns its generation (1 for the first).
    Sessions signed for an earlier password stop working."""
    if person not in roster.people:
        raise Unknown(_("unknown person {person}: not in the rosters", person=person))
    check_password_rules(password)
    digest = _HASHER.hash(password)
    with db.transaction() as session:
        row = session.get(UserRow, person, with_for_update=True)
        if row is None:
            row = UserRow(person=person, password_hash=digest, generation=1, set_at=now,
                          set_by=by)  # fmt: skip
            session.add(row)
        else:
            row.password_hash, row.set_at, row.set_by = digest, now, by
            row.generation += 1
        generation = row.generation
    log.info("password of %s set by %s", person, by)
    return generation


def verify(db: Database, person: str, password: str) -> int | None:
    """The generation of `person`'s password if `password` is it; None otherwise (no such
    person, no password, a wrong one). Takes as long whether or not the person has one."""
    with db.sessions() as session:
        row = session.get(UserRow, person)
        digest, generation = (row.password_hash, row.generation) if row else (ready(), None)
    try:
        _HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return None
    if generation is not None and _HASHER.check_needs_rehash(digest):
        with db.transaction() as session:  # stronger parameters since: rehash, same generation
            fresh = session.get(UserRow, person, with_for_update=True)
            if fresh is not None and fresh.generation == generation:
                fresh.password_hash = _HASHER.hash(password)
    return generation


def generation(session: Session, person: str) -> int | None:
    """The generation of `person`'s password (None: they have none)."""
    return session.scalar(select(UserRow.generation).where(UserRow.person == person))


def passwords_set(db: Database) -> dict[str, datetime]:
    """Person -> when their password was set, for everyone who has one."""
    with db.sessions() as session:
        return {p: at for p, at in session.execute(select(UserRow.person, UserRow.set_at))}


def ensure_demo_users(
    db: Database, roster: Roster, demo_users: Mapping[str, str], now: datetime
) -> list[str]:
    """The demo's people (config: web.demo_users, refused outside the demo) get their demo
    password unless they already have one; returns who got one."""
    made = []
    have = passwords_set(db)
    for person, password in demo_users.items():
        if person not in have:
            set_password(db, roster, person, password, DEMO, now)
            made.append(person)
    if made:
        log.warning(
            "demo users: %s can sign in to the console with the passwords in the config "
            "(web.demo_users; the demo only)", ", ".join(made),
        )  # fmt: skip
    return made
