"""The leader lease: which node runs what must happen once (polls, escalation, silence,
handovers, reminders, coverage checks, roster announcements).

PostgreSQL: a session-level advisory lock held on a connection of its own; PostgreSQL releases it
when the node dies (its connection closes), and a standby that asks next takes it. SQLite (one
machine): an exclusive lock on a file beside the database, released by the kernel when the
process dies. The lease is checked before each piece of leader work; a node that finds it lost
(its connection broke) stops that work until it holds the lease again.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from floodwatch.store.db import Database

log = logging.getLogger(__name__)

# the advisory lock key of the leader lease ("fw-lead!" as a signed 64-bit integer)
LEADER_LOCK = int.from_bytes(b"fw-lead!", "big", signed=True)


class Lease:
    """Try to hold the lease with `acquire`; `held` says whether it is still held."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Hold the lease if it is free (or already ours); never waits."""
        if self.held():
            return True
        if self._db.dialect == "postgresql":
            return self._acquire_postgres()
        return self._acquire_file()

    def held(self) -> bool:
        """Whether this node holds the lease now (for PostgreSQL: its connection still works)."""
        if self._file is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as exc:
            log.warning("leader lease lost: %s", str(exc).splitlines()[0])
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
            except SQLAlchemyError:
                pass  # the connection is gone: so is the lock
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._drop()

    def _acquire_postgres(self) -> bool:
        if self._engine is None:
            # a connection of its own, outside the pool: its life is the lease's life
            self._engine = create_engine(self._db.url, poolclass=NullPool)
        conn = self._engine.connect()
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
            ).scalar()
            conn.commit()  # the lock is the session's, not the transaction's
        except SQLAlchemyError:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _acquire_file(self) -> bool:
        file = self._db.file
        if file is None:  # an in-memory database has one process
            self._file = open(os.devnull, "rb")  # noqa: SIM115 - held as long as the lease
            return True
        path = Path(f"{file}.leader")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "ab")  # noqa: SIM115 - held as long as the lease
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                pass
        if self._file is not None:
            self._file.close()
        self._conn, self._file = None, None

    def dispose(self) -> None:
        self.release()
        if self._engine is not None:
            self._engine.dispose()
