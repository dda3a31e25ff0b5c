"""The audit watcher: rules over the hub's security audit log, alerts in ``alerts.jsonl`` and
as OTel log records, exactly once across crashes and rotations (CONTRACT section 4).

Run it as ``python -m watcher``. It knows nothing about FastAPI or about the hub.

Pipeline, one module per stage: ``_tail`` (poll, complete lines, rotations) -> ``_engine``
(event-time windows and alert state, ``_groups``) -> ``_runner`` (write alerts durably, then
checkpoint via ``_checkpoint``) -> sinks (``_sinks``, ``_otel_sink``, ``_alertmanager``).
``_cli`` is the edge; ``--replay`` (``_replay``) evaluates a whole file with neither lock
nor checkpoint.

- Time is the lines' own ``ts``. A resolve or repeat is stamped with the exact moment it
  happened and emitted once the clock moves past it; ``--replay`` is therefore
  deterministic. On a live log (lines read within 5 s of the wall clock, or a file last
  written no later than its newest line: a quiet period, also across a restart) follow mode
  after every poll and ``--once`` at its end let the wall clock, less 0.25 s of grace, move
  time: a firing alert resolves on time whether or not another line comes. A log of old
  events written now stays purely event-time.
- Lines stamped more than 5 minutes beyond the wall clock are counted (``future_events``)
  and ignored: they never move the clock, in any mode.
- Follow mode and ``--once`` hold ``state/watcher.lock``: one watcher per home.
- The checkpoint holds the cursor, the engine state (window timestamps, firing episodes) and
  the size of ``alerts.jsonl``; it is written only after that file is fsynced. After a crash
  the alerts regenerated from the lines past the cursor that are already in ``alerts.jsonl``
  are skipped once each, so none is lost and none is written twice.
- Group values are safe by construction (``_guard``): each string goes through ``otel``'s
  ValueGuard, which keeps IP addresses canonical and turns anything that holds a secret
  (``HUB_TOKEN``, ``--token-file``, the home's token file and fingerprint, credential
  patterns) into ``[redacted]``. Everything printed is terminal-safe (``_console``).
- Files it creates are owner-only and never written through a symlink (``_private``); a
  torn last line of ``alerts.jsonl`` is cut only when it is the start of one of its own
  alert lines (``_alerts_file``), any other file is refused untouched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel import NotRegularFile, open_regular, open_shared
    from otel.auditlog import MAX_LINE_BYTES, Cursor, Tailer, split_lines
    from watcher._alert import Alert, AlertState
    from watcher._alertmanager import AlertmanagerSink, build_alertmanager_sink
    from watcher._am_alerts import AlertLabeler
    from watcher._am_config import AlertmanagerConfig, AlertmanagerConfigError
    from watcher._checkpoint import Checkpoint, load_checkpoint
    from watcher._cli import (
        EXIT_FAILURE,
        EXIT_FORCED,
        EXIT_INTERRUPTED,
        EXIT_LOCKED,
        EXIT_OK,
        EXIT_USAGE,
        Mode,
        WatcherConfig,
        main,
        parse_config,
    )
    from watcher._engine import Engine
    from watcher._otel_sink import OTelAlertSink
    from watcher._replay import replay
    from watcher._rules import (
        GROUPABLE_FIELDS,
        ClientFilter,
        Rule,
        RulesError,
        RuleSet,
        active_rules_path,
        default_rules,
        load_rules,
        parse_rules,
    )
    from watcher._runner import Watcher, WatchPaths
    from watcher._signals import Interrupted, StopFlags, stop_on_signals
    from watcher._sinks import AlertSink, ConsoleAlertSink, JsonlAlertSink
    from watcher._status import Counters

# Every name loads on first use: ``python -m watcher`` imports this package before
# ``__main__``, and a mode must not pay for what only another one uses (--replay takes no
# lock, no checkpoint and no Alertmanager; the OTel sink pulls in the SDK).
_LAZY = {
    "NotRegularFile": "otel",
    "open_regular": "otel",
    "open_shared": "otel",
    "MAX_LINE_BYTES": "otel.auditlog",
    "Cursor": "otel.auditlog",
    "Tailer": "otel.auditlog",
    "split_lines": "otel.auditlog",
    "Alert": "watcher._alert",
    "AlertState": "watcher._alert",
    "AlertmanagerSink": "watcher._alertmanager",
    "build_alertmanager_sink": "watcher._alertmanager",
    "AlertLabeler": "watcher._am_alerts",
    "AlertmanagerConfig": "watcher._am_config",
    "AlertmanagerConfigError": "watcher._am_config",
    "Checkpoint": "watcher._checkpoint",
    "load_checkpoint": "watcher._checkpoint",
    "EXIT_FAILURE": "watcher._cli",
    "EXIT_FORCED": "watcher._cli",
    "EXIT_INTERRUPTED": "watcher._cli",
    "EXIT_LOCKED": "watcher._cli",
    "EXIT_OK": "watcher._cli",
    "EXIT_USAGE": "watcher._cli",
    "Mode": "watcher._cli",
    "WatcherConfig": "watcher._cli",
    "main": "watcher._cli",
    "parse_config": "watcher._cli",
    "Engine": "watcher._engine",
    "OTelAlertSink": "watcher._otel_sink",
    "replay": "watcher._replay",
    "GROUPABLE_FIELDS": "watcher._rules",
    "ClientFilter": "watcher._rules",
    "Rule": "watcher._rules",
    "RulesError": "watcher._rules",
    "RuleSet": "watcher._rules",
    "active_rules_path": "watcher._rules",
    "default_rules": "watcher._rules",
    "load_rules": "watcher._rules",
    "parse_rules": "watcher._rules",
    "Watcher": "watcher._runner",
    "WatchPaths": "watcher._runner",
    "Interrupted": "watcher._signals",
    "StopFlags": "watcher._signals",
    "stop_on_signals": "watcher._signals",
    "AlertSink": "watcher._sinks",
    "ConsoleAlertSink": "watcher._sinks",
    "JsonlAlertSink": "watcher._sinks",
    "Counters": "watcher._status",
}

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "GROUPABLE_FIELDS",
    "MAX_LINE_BYTES",
    "Alert",
    "AlertLabeler",
    "AlertSink",
    "AlertState",
    "AlertmanagerConfig",
    "AlertmanagerConfigError",
    "AlertmanagerSink",
    "Checkpoint",
    "ClientFilter",
    "ConsoleAlertSink",
    "Counters",
    "Cursor",
    "Engine",
    "Interrupted",
    "JsonlAlertSink",
    "Mode",
    "NotRegularFile",
    "OTelAlertSink",
    "Rule",
    "RuleSet",
    "RulesError",
    "StopFlags",
    "Tailer",
    "WatchPaths",
    "Watcher",
    "WatcherConfig",
    "active_rules_path",
    "build_alertmanager_sink",
    "default_rules",
    "load_checkpoint",
    "load_rules",
    "main",
    "open_regular",
    "open_shared",
    "parse_config",
    "parse_rules",
    "replay",
    "split_lines",
    "stop_on_signals",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
