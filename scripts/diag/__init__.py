"""The diagnose bundle (CONTRACT section 5), behind ``scripts/diagnose.py``.

Modules, one concern each: :mod:`.config` (arguments and env, parsed once), :mod:`.tail`
(log tails from the end), :mod:`.hubdb` (``hub.db`` read-only), :mod:`.probe` (loopback
HTTP), :mod:`.collectors`, :mod:`.redact` (layers, on ``otel``'s rules), :mod:`.gate` (the
final leak gate), :mod:`.bundle` (reproducible atomic zip), :mod:`.run`, :mod:`.verify` and
:mod:`.cli`.
"""

from __future__ import annotations

from .bundle import LeakFound, canonical_json, write_bundle
from .cli import (
    EXIT_LEAK,
    EXIT_NO_BUNDLE,
    EXIT_OK,
    EXIT_TAMPERED,
    EXIT_USAGE,
    main,
)
from .config import DiagConfig, UsageError
from .gate import Leak, LeakGate
from .redact import KnownSecrets, LayeredRedactor, RedactionCounts, gather_known_secrets
from .run import VERSION, create_bundle
from .tail import tail_lines
from .verify import Verdict, verify_bundle

__all__ = [
    "EXIT_LEAK",
    "EXIT_NO_BUNDLE",
    "EXIT_OK",
    "EXIT_TAMPERED",
    "EXIT_USAGE",
    "VERSION",
    "DiagConfig",
    "KnownSecrets",
    "LayeredRedactor",
    "Leak",
    "LeakFound",
    "LeakGate",
    "RedactionCounts",
    "UsageError",
    "Verdict",
    "canonical_json",
    "create_bundle",
    "gather_known_secrets",
    "main",
    "tail_lines",
    "verify_bundle",
    "write_bundle",
]
