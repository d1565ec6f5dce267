"""Shared fixtures: real servers on loopback, the recorded payloads, databases on both engines."""

from __future__ import annotations

import compileall
import os
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FLOODWATCH_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
REQUIRE_SERVICES = os.environ.get("FLOODWATCH_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "FLOODWATCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_configure(config: pytest.Config) -> None:
    """Compiled modules are kept between runs (in `__pycache__`, which git ignores), even where
    PYTHONDONTWRITEBYTECODE is set: without them every worker, and every `floodwatch` process a
    test starts, compiles the package and rewrites the test modules' asserts again, about 5 s
    of CPU per worker. The first process (xdist's controller, or the only one) compiles the
    package and the tests' support modules on every core before any worker starts; the test
    modules' rewritten code (pytest's own) is kept by the worker that first imports each."""
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # for the workers and the processes tests start
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(ROOT / "floodwatch", quiet=1, workers=0)
        compileall.compile_dir(ROOT / "tests", quiet=1, workers=0, maxlevels=0)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core. A good part of the suite waits rather than computes
    (real processes starting, a browser, sockets, the timeouts of silent far ends), and a
    worker that waits leaves its core to the other; each test has its own files, databases,
    topics and ports, so any number of workers can run side by side. At most 8: each worker
    holds a few PostgreSQL connections, and the server's default limit is 100."""
    return min(2 * (os.cpu_count() or 1), 8)


def need_service(name: str, reachable: bool, why: str) -> None:
    """Skip when a server is missing, except in CI (FLOODWATCH_REQUIRE_SERVICES=1): fail there."""
    if reachable:
        return
    message = f"{name} not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (FLOODWATCH_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _stop_services() -> Iterator[None]:
    """Stop every service a test built (its lease connection and engines go with it)."""
    from .service_support import BUILT

    yield
    while BUILT:
        BUILT.pop().stop()


@pytest.fixture(autouse=True, scope="session")
def _cheap_passwords() -> None:
    """Passwords hashed with argon2id at its lowest cost (one pass over 8 KiB) in this process:
    the library's RFC 9106 parameters take 0.15 s a hash or a check, and the console's tests
    sign people in thousands of times. The service's own parameters are checked by
    test_console_login.py; a `floodwatch` started as a process of its own keeps them."""
    from argon2 import PasswordHasher

    from floodwatch import users

    users.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(autouse=True, scope="session")
def _sqlite_schema_from_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A new SQLite database starts as a copy of one the migrations built once per process.

    `Database.upgrade` runs every migration (a tenth of a second on SQLite), and about a
    thousand tests start from an empty file: in this process, `upgrade` on a SQLite file that
    does not exist yet (or is empty) copies the file the real `upgrade` built, then gives the
    copy an installation id of its own, as `upgrade` does. Any other call (a file with a
    schema, PostgreSQL, a `floodwatch` started as a process of its own) runs the migrations;
    test_storage.py checks that they build exactly the models, on both engines."""
    from floodwatch.store import db as store_db

    migrate = store_db.Database.upgrade
    template = tmp_path_factory.mktemp("schema") / "head.db"
    built = store_db.Database(f"sqlite:///{template}")
    migrate(built)
    with built.engine.begin() as conn:  # each copy gets its own id
        conn.execute(
            text("DELETE FROM service_state WHERE name = :name"), {"name": store_db.INSTALLATION}
        )
    built.dispose()
    if Path(f"{template}-wal").exists():  # the last connection's close folds the log in
        raise RuntimeError(f"{template}-wal is left over: the template is not one file")

    def upgrade(self: store_db.Database) -> None:
        file = self.file
        if self.dialect != "sqlite" or file is None or (file.exists() and file.stat().st_size):
            migrate(self)
            return
        self.engine.dispose()  # a connection opened on the empty file would not see the copy
        file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, file)
        with self.engine.begin() as conn:
            store_db._installation(conn)  # noqa: SLF001 - as `upgrade` does

    store_db.Database.upgrade = upgrade  # type: ignore[method-assign]
    yield
    store_db.Database.upgrade = migrate  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The real recorded payloads in ../shared/fixtures."""
    need_service("shared fixtures", FIXTURES.is_dir(), f"{FIXTURES} does not exist")
    return FIXTURES


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'floodwatch.db'}"


def _create_database(admin: Engine, template: str | None = None) -> str:
    """A new database on the PostgreSQL server (a copy of `template`), its name."""
    name = f"floodwatch_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable server"
        need_service("PostgreSQL", False, f"cannot create a database: {exc}")
    return name


def _drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _url_of(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[Engine]:
    need_service("PostgreSQL", port_open("127.0.0.1", 5432), "nothing listens on 127.0.0.1:5432")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    yield admin
    admin.dispose()


@pytest.fixture
def postgres_url(_postgres_admin: Engine) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped afterwards."""
    name = _create_database(_postgres_admin)
    try:
        yield _url_of(name)
    finally:
        _drop_database(_postgres_admin, name)


@pytest.fixture(scope="session")
def _migrated_template(_postgres_admin: Engine) -> Iterator[str]:
    """A database the migrations built, once per test process: the storage tests' databases
    are copies of it (CREATE DATABASE ... TEMPLATE), so each starts at the head revision without
    running every migration again (a third of a second each on PostgreSQL)."""
    from floodwatch.store import Database

    name = _create_database(_postgres_admin)
    db = Database(_url_of(name))
    try:
        db.upgrade()
    finally:
        db.dispose()  # a template must have no connections while it is copied
    yield name
    _drop_database(_postgres_admin, name)


@pytest.fixture
def migrated_postgres_url(_postgres_admin: Engine, _migrated_template: str) -> Iterator[str]:
    """A database on the PostgreSQL server at the head revision, dropped afterwards."""
    name = _create_database(_postgres_admin, _migrated_template)
    try:
        yield _url_of(name)
    finally:
        _drop_database(_postgres_admin, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on PostgreSQL (there in a database the migrations
    built; on SQLite in a new file, the migrations run by the test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'floodwatch.db'}"
    return str(request.getfixturevalue("migrated_postgres_url"))


class Route:
    """What the local HTTP server answers for one path: status, body, content type; `delay`
    seconds before answering (a slow server, for timeouts); extra response `headers`."""

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: str = "application/json",
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ):
        self.body, self.status, self.content_type = body, status, content_type
        self.delay, self.headers = delay, dict(headers or {})


class LocalHTTPServer:
    """A real HTTP server on 127.0.0.1 serving recorded payloads; records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                server.requests.append(("GET", self.path, dict(self.headers)))
                path = self.path.split("?", 1)[0]
                route = server.routes.get(path) or Route(b'{"error": "not found"}', 404)
                if route.delay and server._stopping.wait(route.delay):
                    return  # the server is stopping: don't hold its shutdown up
                try:
                    self.send_response(route.status)
                    self.send_header("Content-Type", route.content_type)
                    self.send_header("Content-Length", str(len(route.body)))
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up waiting (a timeout test): nothing to answer

            def log_message(self, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll interval: shutdown() waits up to one, and every test stops a server
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(
        self,
        path: str,
        body: bytes | str,
        status: int = 200,
        content_type: str = "application/json",
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(data, status, content_type, delay, headers)
        return self.url + path

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    server = LocalHTTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
