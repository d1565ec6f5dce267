"""Engines and sessions for SQLite (embedded default) and PostgreSQL, and schema upgrades.

Only `upgrade` creates a database (or its schema): every other command first asks `require`,
which says "no database at PATH; run `floodwatch db upgrade`" instead of creating an empty one.
On PostgreSQL, upgrades run under an advisory lock, so nodes can start together.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, insert, inspect, select, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from floodwatch.errors import FloodwatchError
from floodwatch.store.models import Base, ServiceStateRow

MIGRATIONS = Path(__file__).parent / "migrations"
INSTALLATION = "installation"  # service_state: this database's id, part of every page's key
# pg_advisory_xact_lock key for schema upgrades ("floodwat" as bytes, as a signed 64-bit int)
UPGRADE_LOCK = int.from_bytes(b"floodwat", "big", signed=True)


class NoDatabase(FloodwatchError):
    """The database (or its schema) is not there, or is older than this floodwatch."""


class Database:
    """One database: an engine, a session factory and its migrations."""

    def __init__(self, url: str | URL) -> None:
        self.url = make_url(url)
        self.engine = _engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds it busy sleeps and tries
        # again (up to 100 ms between tries), however soon the lock is free: the threads of one
        # process (ingest, claims, the lanes' records) queue here for it instead, and the next
        # one goes the moment the last commits. Other processes still wait in SQLite.
        self._writer: AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def file(self) -> Path | None:
        """The SQLite file (None: PostgreSQL, or an in-memory SQLite)."""
        database = self.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database.removeprefix("file:").split("?", 1)[0])

    @property
    def where(self) -> str:
        """The database as messages name it (no password)."""
        file = self.file
        return str(file) if file is not None else self.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self._writer, self.sessions() as session, session.begin():
            yield session

    # -- existence and schema ------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the database is there (never creates it). Unreachable: the error is raised."""
        file = self.file
        if file is not None:
            return file.is_file()
        if self.dialect == "sqlite":
            return True  # in memory
        try:
            with self.engine.connect():
                return True
        except OperationalError as exc:
            if "does not exist" in str(exc.orig):
                return False
            raise

    def revision(self) -> str | None:
        """The schema's migration (None: no floodwatch schema in it)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def require(self) -> None:
        """Raise NoDatabase unless the database exists with the newest schema."""
        if not self.exists():
            raise NoDatabase(f"no database at {self.where}; run `floodwatch db upgrade`")
        revision = self.revision()
        if revision is None:
            raise NoDatabase(f"{self.where} has no floodwatch tables; run `floodwatch db upgrade`")
        head = schema_head()
        if revision != head:
            raise NoDatabase(
                f"{self.where} has schema {revision}, this floodwatch needs {head}; "
                "run `floodwatch db upgrade`"
            )

    def upgrade(self) -> None:
        """Create the database's schema or bring it to the newest migration (idempotent), and
        give the database its installation id. Several nodes may call this at once."""
        file = self.file
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # one node upgrades, the others wait, then see head
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            _installation(conn)

    def installation(self) -> str:
        """This database's installation id (made by `upgrade`)."""
        with self.sessions() as session:
            row = session.get(ServiceStateRow, INSTALLATION)
            if row is None:
                raise NoDatabase(
                    f"{self.where} has no installation id; run `floodwatch db upgrade`"
                )
            return str(row.value["id"])

    def reset(self) -> None:
        """Drop every floodwatch table (the demo's fresh start); `upgrade` builds them again."""
        file = self.file
        if file is not None and not file.exists():
            return  # nothing to empty (a fresh clone has no var/ yet: `upgrade` makes it)
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
            Base.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")

    def dispose(self) -> None:
        self.engine.dispose()


def describe_database_error(exc: SQLAlchemyError) -> str:
    """One line an operator can act on, for any error the database layer raised."""
    orig = getattr(exc, "orig", None)
    first = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else repr(exc)
    text_ = first.lower()
    if isinstance(exc, OperationalError):
        if "readonly" in text_ or "read-only" in text_:
            return f"the database is read-only: {first}"
        if "unable to open database file" in text_:
            return f"cannot open the SQLite database file: {first}"
        if "does not exist" in text_:
            return f"{first}; create it (createdb) and run `floodwatch db upgrade`"
        return f"database unreachable: {first}"
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"bad database URL: {first}"
    return f"database error: {first}"


def schema_head() -> str:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    return head or ""


def _installation(conn: Connection) -> None:
    """Give the database an id once; pages' idempotency keys carry it, so a file or provider
    that deduplicates never mistakes a page of a new database for one of an old database."""
    found = conn.execute(
        select(ServiceStateRow.name).where(ServiceStateRow.name == INSTALLATION)
    ).first()
    if found is None:
        conn.execute(
            insert(ServiceStateRow).values(name=INSTALLATION, value={"id": uuid.uuid4().hex})
        )


def _engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # take transactions into our own hands: see the "begin" listener
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the lock up front; a deferred transaction that reads and then writes
        # can fail with SQLITE_BUSY when another thread wrote in between.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
