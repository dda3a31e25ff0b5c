"""The security audit writer: one JSON object per line, appended and flushed per event.

Both processes append to the same file. Each event is one ``write`` on a descriptor opened
with ``O_APPEND`` just for it, so lines from the two processes never interleave, and an
operator may rotate the file at any time (by rename: the next event creates a new file; by
copy and truncate: the next event lands at the new end).

A line (our names, not the contract's; ``audit_format.json`` maps them)::

    {"time": 1764411302.123, "type": "auth.fail", "ip": "127.0.0.1", "svc": "control",
     "port": 8787, "verb": "GET", "route": "/nodes", "why": "invalid_token"}
    {"time": 1764411303.0, "type": "wrong_port", "ip": "127.0.0.1", "svc": "data",
     "port": 8788, "verb": "POST", "route": "/nodes/register", "want_port": 8787}
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import Scope

__all__ = ["AuditWriter"]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


class AuditWriter:
    """Appends this process's security events to the shared audit log.

    Args:
        path: the audit log.
        svc: this process's plane.
        port: this process's port.
        clock: epoch seconds.
    """

    def __init__(self, path: Path, *, svc: str, port: int, clock: Callable[[], float]) -> None:
        self._path = path
        self._svc = svc
        self._port = port
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)

    def auth_fail(self, scope: Scope, why: str) -> None:
        self._append(self._record("auth.fail", scope) | {"why": why})

    def wrong_port(self, scope: Scope, want_port: int) -> None:
        self._append(self._record("wrong_port", scope) | {"want_port": want_port})

    def _record(self, kind: str, scope: Scope) -> dict[str, Any]:
        client = scope.get("client")
        return {"time": round(self._clock(), 6), "type": kind,
                "ip": client[0] if client else None, "svc": self._svc, "port": self._port,
                "verb": scope["method"], "route": scope["path"]}

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self._path, _FLAGS, 0o600)
        try:
            while line:
                line = line[os.write(fd, line):]
        finally:
            os.close(fd)
