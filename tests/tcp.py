"""A misbehaving TCP endpoint on loopback, for the tests of what the layer does when a peer
accepts and then never answers, or answers a byte at a time."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Callable, Iterator

#: What an endpoint does with one accepted connection; it returns once ``stop`` is set.
Handler = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def tcp_endpoint(handle: Handler) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` whose every connection goes to ``handle`` on a thread of its
    own. When the block ends, ``stop`` is set and every connection and the listener closed."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(conn)
            threading.Thread(target=handle, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        server.close()


def never_answer(conn: socket.socket, stop: threading.Event) -> None:
    """Holds the connection open, reads nothing and answers nothing."""


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """Reads a request, then answers one byte every 0.2 s for ever: each read comes well
    within any read timeout, and the answer never ends."""
    conn.recv(65536)
    for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: yes"):  # headers without end
        if stop.wait(0.2):
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return
