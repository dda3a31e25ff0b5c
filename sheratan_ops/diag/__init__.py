"""The diagnose bundle (CONTRACT sections 5 and 6), behind ``sheratan-diagnose`` and
``scripts/diagnose.py``.

Modules, one concern each: :mod:`.config` (arguments and env, parsed once), :mod:`.known`
(the known secrets and how the hub token was found), :mod:`.tail` (log tails from the end),
:mod:`.hubdb` (``hub.db`` read-only), :mod:`.probe` (loopback HTTP), :mod:`.output` (what a
collector returns), :mod:`.collectors` (the runner and the live collectors), :mod:`.files`
(logs and the watcher's status, read safely), :mod:`.registry` (the capped node snapshot),
:mod:`.jsonsafe` and :mod:`.redact` (layers, on ``otel``'s rules), :mod:`.finish` (one
collector's output to bytes, in its isolation), :mod:`.gate` (the final leak gate),
:mod:`.bundle` (reproducible, atomic, never-overwriting zip), :mod:`.run`, :mod:`.verify`
and :mod:`.cli`.
"""

from __future__ import annotations

from .bundle import LeakFound, canonical_json, write_bundle
from .cli import (
    EXIT_LEAK,
    EXIT_NO_BUNDLE,
    EXIT_NO_TOKEN,
    EXIT_OK,
    EXIT_TAMPERED,
    EXIT_USAGE,
    main,
)
from .config import DiagConfig, UsageError
from .gate import Leak, LeakGate
from .known import NoTokenError, load_secrets
from .redact import LayeredRedactor, RedactionCounts
from .run import VERSION, create_bundle
from .tail import tail_lines
from .verify import Verdict, verify_bundle

__all__ = [
    "EXIT_LEAK",
    "EXIT_NO_BUNDLE",
    "EXIT_NO_TOKEN",
    "EXIT_OK",
    "EXIT_TAMPERED",
    "EXIT_USAGE",
    "VERSION",
    "DiagConfig",
    "LayeredRedactor",
    "Leak",
    "LeakFound",
    "LeakGate",
    "NoTokenError",
    "RedactionCounts",
    "UsageError",
    "Verdict",
    "canonical_json",
    "create_bundle",
    "load_secrets",
    "main",
    "tail_lines",
    "verify_bundle",
    "write_bundle",
]
