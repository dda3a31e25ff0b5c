"""The audit watcher: rules over the hub's security audit log, alerts in ``alerts.jsonl`` and
as OTel log records, exactly once across crashes and rotations (CONTRACT section 4).

Run it as ``python -m watcher``. It knows nothing about FastAPI or about the hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watcher._alert import Alert, AlertState
from watcher._checkpoint import Checkpoint, load_checkpoint
from watcher._cli import (
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    EXIT_USAGE,
    Mode,
    WatcherConfig,
    main,
    parse_config,
)
from watcher._engine import Engine
from watcher._rules import (
    GROUPABLE_FIELDS,
    ClientFilter,
    Rule,
    RulesError,
    RuleSet,
    default_rules,
    load_rules,
    parse_rules,
)
from watcher._runner import Watcher, WatchPaths, replay
from watcher._signals import StopFlags, stop_on_signals
from watcher._sinks import AlertSink, ConsoleAlertSink, JsonlAlertSink
from watcher._status import Counters
from watcher._tail import MAX_LINE_BYTES, Cursor, Tailer, split_lines

if TYPE_CHECKING:
    from watcher._otel_sink import OTelAlertSink

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_USAGE",
    "GROUPABLE_FIELDS",
    "MAX_LINE_BYTES",
    "Alert",
    "AlertSink",
    "AlertState",
    "Checkpoint",
    "ClientFilter",
    "ConsoleAlertSink",
    "Counters",
    "Cursor",
    "Engine",
    "JsonlAlertSink",
    "Mode",
    "OTelAlertSink",
    "Rule",
    "RuleSet",
    "RulesError",
    "StopFlags",
    "Tailer",
    "WatchPaths",
    "Watcher",
    "WatcherConfig",
    "default_rules",
    "load_checkpoint",
    "load_rules",
    "main",
    "parse_config",
    "parse_rules",
    "replay",
    "split_lines",
    "stop_on_signals",
]


def __getattr__(name: str) -> object:
    # The OTel sink pulls in the SDK; importing it lazily keeps --replay lean.
    if name == "OTelAlertSink":
        from watcher._otel_sink import OTelAlertSink

        return OTelAlertSink
    raise AttributeError(f"module 'watcher' has no attribute {name!r}")
