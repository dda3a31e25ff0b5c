"""What a collector hands back, and how an error is described without leaking where it was.

Kept apart from :mod:`.collectors` so the collector modules (:mod:`.registry`,
:mod:`.files`) and the runner share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

Member = dict[str, Any] | bytes

#: Collector statuses. ``refused``: a file was there but was not a regular file (a symlink,
#: a FIFO, a device), so it was not read; ``cut``: collected, but something was left out
#: (an overlong log line, nodes over the registry's cap), as the note says.
OK = "ok"
ABSENT = "absent"
OFFLINE = "offline"
ERROR = "error"
REFUSED = "refused"
CUT = "cut"


@dataclass(slots=True)
class Output:
    """What a collector produced.

    ``status`` is ``ok``, ``absent`` (nothing there to collect: not an error), ``offline``
    (the live source failed and an offline reading stands in), ``refused``, ``cut`` or
    ``error``. ``note`` says what was cut or changed when the data is not all there as it
    was found; ``error`` says what failed.
    """

    members: dict[str, Member]
    status: str = OK
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    dropped_fields: int = 0
    note: str | None = None


def describe_error(exc: BaseException) -> str:
    """An exception as a collector error: its class and message, with an ``OSError``'s
    path reduced to the file's name (a bundle holds no absolute path)."""
    if isinstance(exc, OSError) and (exc.strerror or exc.filename is not None):
        name = PurePath(str(exc.filename)).name if exc.filename is not None else None
        reason = exc.strerror or type(exc).__name__
        return f"{type(exc).__name__}: {reason}" + (f" ({name})" if name else "")
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
