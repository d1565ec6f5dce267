"""Building blocks for the feed tests: a plugin context, a sleep recorder, payload editing, a
server whose answer has no length (chunked, as a proxy or a streaming service sends), and one
that answers each request as a test scripts it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from floodwatch.clock import SimulatedClock
from floodwatch.plugins import PluginContext


def context(base_dir: Path, now: datetime | None = None) -> PluginContext:
    """What the application hands a plugin; HTTP goes through the real default session."""
    return PluginContext(base_dir=base_dir, clock=SimulatedClock(now or datetime.now(UTC)))


class Sleeps:
    """Stands in for time.sleep: records each wait, never waits; may run a hook per call."""

    def __init__(self, hook: Callable[[float], object] | None = None) -> None:
        self.calls: list[float] = []
        self._hook = hook

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self._hook is not None:
            self._hook(seconds)


def load(fixtures: Path, relative: str) -> Any:
    """A recorded payload, parsed, for a test that edits it into a faulty one."""
    return json.loads((fixtures / "feeds" / relative).read_text(encoding="utf-8"))


def raw(fixtures: Path, relative: str) -> bytes:
    """A recorded payload byte for byte, as the source sent it."""
    return (fixtures / "feeds" / relative).read_bytes()


def dumps(data: Any) -> bytes:
    """JSON as a server would send it; NaN stays the bare literal some servers emit."""
    return json.dumps(data, allow_nan=True).encode("utf-8")


def spoiled(data: Any, marker: str) -> bytes:
    """`data` as JSON with each `marker` replaced by a byte that is not UTF-8 (0xFF): a payload
    that is sound but for one undecodable byte where the marker was."""
    return dumps(data).replace(marker.encode("ascii"), b"\xff")


@contextmanager
def chunked_server(body: bytes, chunk: int = 64 * 1024) -> Iterator[tuple[str, list[int]]]:
    """A local HTTP server answering every GET with `body` in chunks and no Content-Length.
    Yields its URL and, per request, how many bytes it managed to send (a client that stops
    reading makes the server stop writing)."""
    sent: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            done = 0
            try:
                for i in range(0, len(body), chunk):
                    part = body[i : i + chunk]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    done += len(part)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            sent.append(done)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}", sent
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def scripted_server(
    answer: Callable[[str, dict[str, list[str]]], tuple[int, bytes]],
) -> Iterator[str]:
    """A local HTTP server whose answer to each GET is `answer(path, query)`: (status, body).
    For a source that answers one request of a feed and fails another (the local server of
    conftest answers by path alone)."""
    from urllib.parse import parse_qs, urlsplit

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            url = urlsplit(self.path)
            status, body = answer(url.path, parse_qs(url.query))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
