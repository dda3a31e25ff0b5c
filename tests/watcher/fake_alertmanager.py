"""A stand-in for Alertmanager's ``POST /api/v2/alerts`` on 127.0.0.1:0, for in-process tests.

It keeps every posted list, answers 200 like Alertmanager, and can be told to fail (an HTTP
status), to hang (a delay before answering), or to refuse connections (stopped and started
again on the same port, as a restarted Alertmanager is).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeAlertmanager:
    def __init__(self, port: int = 0) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.status = 200
        self.delay_s = 0.0
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if fake.delay_s:
                    fake._release.wait(fake.delay_s)
                if self.path != "/api/v2/alerts":
                    self.send_error(404)
                    return
                if fake.status == 200:
                    with fake.lock:
                        fake.posts.append(json.loads(body))
                self.send_response(fake.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops listening: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._release.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._release = threading.Event()

    def alerts(self) -> list[dict[str, Any]]:
        """Every posted alert, in order."""
        with self.lock:
            return [alert for post in self.posts for alert in post]

    def latest(self) -> dict[str, dict[str, Any]]:
        """The newest posted state per alert id (the ``alert_id`` annotation)."""
        return {alert["annotations"]["alert_id"]: alert for alert in self.alerts()}
