"""The web app on uvicorn in a background thread, for `floodwatch run`: `WebServer(app)`
listens on settings.web.listen; `start()` gives the demo's people their demo passwords (config
`web.demo_users`, the demo only), returns once it listens (FloodwatchError if it cannot);
`stop()` lets requests under way finish (up to 5 s), then closes."""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn

from floodwatch import users
from floodwatch.app import App
from floodwatch.errors import FloodwatchError
from floodwatch.web.app import create_app

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, telling when its start-up is over (listening, or failed)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    def run_until_stopped(self, sockets: list[socket.socket]) -> None:
        try:
            self.run(sockets=sockets)
        except BaseException:  # the thread's end is told by `ready`, and logged
            log.exception("the web server stopped")
        finally:
            self.ready.set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


class WebServer:
    """The web app of `app`, served on `listen` (default: the config's `web.listen`)."""

    def __init__(self, app: App, listen: str | None = None) -> None:
        web = app.config.settings.web
        if listen is None:
            if web is None:
                raise FloodwatchError("the config has no `web:` section: the web app is off")
            listen = web.listen
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise FloodwatchError(f"web.listen: expected host:port, found {listen!r}")
        self.host, self.port = host, int(port)
        self.public_url = web.public_url if web is not None else None
        self.demo_users = dict(web.demo_users) if web is not None else {}
        self.app = app
        self.asgi = create_app(app)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where the server listens (its port once started, when `listen` asked for port 0)."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("the web server is already started")
        if self.demo_users:  # the config checked they come with the demo clock, on loopback
            users.ensure_demo_users(
                self.app.db, self.app.roster.current, self.demo_users, self.app.clock.now()
            )
        try:
            sock = socket.create_server((self.host, self.port))
        except OSError as exc:
            raise FloodwatchError(
                f"web.listen: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.asgi, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=5,
        )  # fmt: skip
        server = _Server(config)
        thread = threading.Thread(
            target=server.run_until_stopped, args=([sock],), name="floodwatch-web", daemon=True
        )
        thread.start()
        if not server.ready.wait(timeout) or not server.started:
            server.should_exit = True
            thread.join(timeout)
            sock.close()
            raise FloodwatchError(f"the web server did not start on {self.url} (see the log)")
        self._server, self._thread = server, thread
        log.info("web app listening on %s (public URL %s)", self.url, self.public_url)

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():  # a request that does not end: cut it
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = None
        log.info("web app stopped")
