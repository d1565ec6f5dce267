"""Faults on demand: a TCP proxy in front of PostgreSQL that can refuse and cut connections,
so a test (or benchmarks/faults.py) can take the database away and give it back."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class DatabaseProxy:
    """Forwards 127.0.0.1:<port> to `target`. `down()` cuts every connection and refuses new
    ones (the server seen from floodwatch is gone); `up()` lets them through again."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._pipes: list[threading.Thread] = []
        self._down = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, postgres_url: str) -> str:
        """`postgres_url` with its host and port replaced by the proxy's."""
        head, tail = postgres_url.split("@", 1)
        database = tail.split("/", 1)[1]
        return f"{head}@127.0.0.1:{self.port}/{database}"

    def down(self) -> None:
        with self._lock:
            self._down = True
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def up(self) -> None:
        with self._lock:
            self._down = False

    @contextmanager
    def away(self) -> Iterator[None]:
        self.down()
        try:
            yield
        finally:
            self.up()

    def close(self) -> None:
        self._stop.set()
        self.down()
        self._listener.close()
        self._thread.join(5)
        for t in self._pipes:
            t.join(5)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:  # the server is "gone": the connection is refused at once
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            pipe = threading.Thread(target=self._pipe, args=(client, server), daemon=True)
            self._pipes.append(pipe)
            pipe.start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
