"""Console sessions in signed cookies, CSRF tokens, and the sign-in rate limit.

- The session cookie holds a session id, the person, their password's generation and a CSRF
  token, signed (itsdangerous, HMAC-SHA1 over a key kept in the database and shared by every
  node) and timestamped: it is refused when the signature fails, when it is older than
  `MAX_AGE`, when the person left the rosters, when their password changed since, and when the
  session was signed out (its id is kept in `web_revoked_sessions` until it would have expired,
  so a copy of the cookie dies with the sign-out). HttpOnly, SameSite=Lax, Secure when the
  console is served over https.
- Every form carries the session's CSRF token (a hidden field, or the X-CSRF-Token header from
  the page's script); a POST without the right one is refused. The sign-in form, before any
  session, uses a token of its own in a cookie (double submit).
- Failed sign-ins are limited per person and per address (`LoginLimiter`), on the real
  monotonic clock (never the demo's fast clock), per process.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from floodwatch import users
from floodwatch.store import Database
from floodwatch.store.models import RevokedSessionRow, WebKeyRow

COOKIE = "fw_session"
LOGIN_CSRF = "fw_login_csrf"
LANGUAGE = "fw_lang"
FLASH = "fw_flash"
MAX_AGE = timedelta(hours=26)  # a 24-hour shift and the handover around it
KEY_NAME = "session"


def web_key(db: Database, name: str, now: datetime) -> str:
    """The named secret every node shares, made at random the first time it is asked for."""
    with db.sessions() as session:
        row = session.get(WebKeyRow, name)
        if row is not None:
            return row.value
    try:
        with db.transaction() as session:
            session.add(WebKeyRow(name=name, value=secrets.token_urlsafe(48), created_at=now))
    except IntegrityError:  # another node made it first: theirs stands
        pass
    with db.sessions() as session:
        row = session.get(WebKeyRow, name)
        if row is None:  # only a database that refuses writes silently gets here
            raise RuntimeError(f"web key {name!r} could not be stored")
        return row.value


@dataclass(frozen=True)
class Session:
    id: str
    person: str
    generation: int
    csrf: str


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Sessions:
    def __init__(
        self, db: Database, key: Callable[[], str], max_age: timedelta = MAX_AGE,
        wall: Callable[[], datetime] = _wall_clock,
    ) -> None:  # fmt: skip
        """`wall`: real time, as the cookies' timestamps are (never the demo's fast clock)."""
        self.db = db
        self._key = key
        self.max_age = max_age
        self._wall = wall
        self._serializer: URLSafeTimedSerializer | None = None

    @property
    def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:  # the key is read (or made) on first use, not at import
            self._serializer = URLSafeTimedSerializer(self._key(), salt="floodwatch-session")
        return self._serializer

    def issue(self, person: str, generation: int) -> str:
        """A new session's cookie value (a fresh CSRF token with it)."""
        value = {"s": secrets.token_urlsafe(16), "p": person, "g": generation,
                 "c": secrets.token_urlsafe(24)}  # fmt: skip
        return str(self.serializer.dumps(value))

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries; None when it is missing, forged, too old, signed out
        or for a password that has changed since."""
        if not cookie:
            return None
        try:
            value = self.serializer.loads(cookie, max_age=int(self.max_age.total_seconds()))
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(value, dict):
            return None
        sid, person, gen, csrf = value.get("s"), value.get("p"), value.get("g"), value.get("c")
        if not all(isinstance(v, str) for v in (sid, person, csrf)) or not isinstance(gen, int):
            return None  # (a cookie from before session ids: signed in again once)
        with self.db.sessions() as session:  # on every request: one database session
            if users.generation(session, str(person)) != gen:
                return None
            if session.get(RevokedSessionRow, sid) is not None:
                return None
        return Session(str(sid), str(person), gen, str(csrf))

    def revoke(self, cookie: str | None) -> Session | None:
        """Sign out the session a cookie carries, for good: that cookie, and any copy of it, is
        refused from now on. Revocations older than a cookie's life are forgotten here."""
        found = self.read(cookie)
        if found is None:
            return None
        now = self._wall()
        try:
            with self.db.transaction() as session:
                session.execute(delete(RevokedSessionRow).where(RevokedSessionRow.expires_at < now))
                session.add(RevokedSessionRow(id=found.id, person=found.person, revoked_at=now,
                                              expires_at=now + self.max_age))  # fmt: skip
        except IntegrityError:  # signed out twice at once: once is enough
            pass
        return found

    def sign(self, value: str, salt: str) -> str:
        """`value` signed for a purpose (`salt`): a flash message, a calendar link."""
        return str(URLSafeTimedSerializer(self.serializer.secret_key, salt=salt).dumps(value))

    def unsign(self, signed: str, salt: str, max_age: int | None = None) -> str | None:
        try:
            value = URLSafeTimedSerializer(self.serializer.secret_key, salt=salt).loads(
                signed, max_age=max_age
            )
        except BadSignature:
            return None
        return value if isinstance(value, str) else None


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token; a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class LoginLimiter:
    """At most `per_person` failed sign-ins for one person and `per_address` from one address
    within `window` seconds; then sign-in is refused (429) until the oldest failure is that old.
    A success forgets the person's failures."""

    def __init__(
        self, per_person: int = 5, per_address: int = 20, window: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.limits = {"person": per_person, "address": per_address}
        self.window = window
        self._now = monotonic
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, person: str, address: str) -> float:
        """Seconds until a sign-in may be tried again (0: now)."""
        now = self._now()
        with self._lock:
            longest = 0.0
            for key in (("person", person), ("address", address)):
                failures = self._recent(key, now)
                if len(failures) >= self.limits[key[0]]:
                    longest = max(longest, failures[0] + self.window - now)
            return longest

    def failed(self, person: str, address: str) -> None:
        now = self._now()
        with self._lock:
            for key in (("person", person), ("address", address)):
                self._failures.setdefault(key, deque()).append(now)
                self._recent(key, now)

    def succeeded(self, person: str) -> None:
        with self._lock:
            self._failures.pop(("person", person), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures
