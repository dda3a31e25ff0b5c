"""The Sheratan hub's telemetry core: OTel instruments, readers, renderers and redaction.

It knows nothing about FastAPI or about any hub; ``hub_middleware`` wires it in.

Example::

    from otel import HubTelemetry, TelemetryConfig

    telemetry = HubTelemetry(TelemetryConfig.from_env(os.environ))
    telemetry.set_node_counts_source(lambda: {"online": 3, "stale": 0, "dead": 0})
    telemetry.record_request("control", "GET", "/nodes", 200, 8787, 0.002)
    body = telemetry.snapshot_json("control")
    telemetry.shutdown()

What it builds can be passed in instead, as prometheus_client takes a registry:
``HubTelemetry(config, metric_readers={Plane.DATA: [reader]}, logger_provider=provider)``
adds a test's or a vendor's metric reader to the data plane's MeterProvider and hands out
the caller's LoggerProvider instead of building one. A process that only exports log
records (the watcher) builds just a LoggerProvider, with the same resource rules::

    pipeline = build_log_pipeline(TelemetryConfig.from_env(os.environ))
    pipeline.provider.get_logger("sheratan.watcher").emit(body="...")
    pipeline.shutdown()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._terminal import (
    TerminalSafeFormatter,
    terminal_safe,
    terminal_safe_json,
    terminal_safe_lines,
)

if TYPE_CHECKING:
    from ._atomic import atomic_write, remove_staged, staged_file
    from ._config import (
        DEFAULT_SERVICE_NAME,
        DURATION_BOUNDS_MS,
        OtlpCompression,
        OtlpProtocol,
        SignalExporter,
        TelemetryConfig,
    )
    from ._files import (
        NotRegularFile,
        irregular_kind,
        kind_of,
        open_regular,
        open_shared,
        read_small_regular,
    )
    from ._fingerprint import (
        FingerprintError,
        TokenFingerprint,
        read_fingerprint,
        write_fingerprint,
    )
    from ._instruments import Plane, json_keys
    from ._lockfile import ExclusiveFileLock
    from ._logs import LogPipeline, build_log_pipeline
    from ._metric_pipeline import MetricPipeline, build_metric_pipeline
    from ._pipeline import shutdown_together
    from ._redaction import (
        MIN_SECRET_LEN,
        REDACTED,
        Redactor,
        can_hold_secret,
        is_secret_key,
    )
    from ._render import OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE
    from ._secrets import (
        FINGERPRINT_FILE,
        TOKEN_FILE,
        KnownSecrets,
        SecretSourceError,
        load_known_secrets,
        read_token_file,
    )
    from ._telemetry import CountsSource, HubTelemetry, TelemetryUnavailableError
    from ._values import ValueGuard, canonical_ip

# Everything but the terminal_safe functions loads on first use. The telemetry names pull in
# the OTel SDK and prometheus_client (over 100 ms); the config and the metric keys cost about
# 10 ms more (logging, dataclasses, urllib), the redaction rules and secret sources about 10 ms
# (json, base64, hashlib, tempfile): a watcher replaying a log of addresses needs none.
_LAZY = {
    "MIN_SECRET_LEN": "._redaction",
    "REDACTED": "._redaction",
    "Redactor": "._redaction",
    "can_hold_secret": "._redaction",
    "is_secret_key": "._redaction",
    "DEFAULT_SERVICE_NAME": "._config",
    "DURATION_BOUNDS_MS": "._config",
    "OtlpCompression": "._config",
    "OtlpProtocol": "._config",
    "SignalExporter": "._config",
    "TelemetryConfig": "._config",
    "atomic_write": "._atomic",
    "remove_staged": "._atomic",
    "staged_file": "._atomic",
    "ExclusiveFileLock": "._lockfile",
    "NotRegularFile": "._files",
    "irregular_kind": "._files",
    "kind_of": "._files",
    "open_regular": "._files",
    "open_shared": "._files",
    "read_small_regular": "._files",
    "FingerprintError": "._fingerprint",
    "TokenFingerprint": "._fingerprint",
    "read_fingerprint": "._fingerprint",
    "write_fingerprint": "._fingerprint",
    "FINGERPRINT_FILE": "._secrets",
    "TOKEN_FILE": "._secrets",
    "KnownSecrets": "._secrets",
    "SecretSourceError": "._secrets",
    "load_known_secrets": "._secrets",
    "read_token_file": "._secrets",
    "ValueGuard": "._values",
    "canonical_ip": "._values",
    "Plane": "._instruments",
    "LogPipeline": "._logs",
    "build_log_pipeline": "._logs",
    "MetricPipeline": "._metric_pipeline",
    "build_metric_pipeline": "._metric_pipeline",
    "shutdown_together": "._pipeline",
    "json_keys": "._instruments",
    "OPENMETRICS_CONTENT_TYPE": "._render",
    "PROMETHEUS_CONTENT_TYPE": "._render",
    "CountsSource": "._telemetry",
    "HubTelemetry": "._telemetry",
    "TelemetryUnavailableError": "._telemetry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_SERVICE_NAME",
    "DURATION_BOUNDS_MS",
    "FINGERPRINT_FILE",
    "MIN_SECRET_LEN",
    "OPENMETRICS_CONTENT_TYPE",
    "PROMETHEUS_CONTENT_TYPE",
    "REDACTED",
    "TOKEN_FILE",
    "CountsSource",
    "ExclusiveFileLock",
    "FingerprintError",
    "HubTelemetry",
    "KnownSecrets",
    "LogPipeline",
    "MetricPipeline",
    "NotRegularFile",
    "OtlpCompression",
    "OtlpProtocol",
    "Plane",
    "Redactor",
    "SecretSourceError",
    "SignalExporter",
    "TelemetryConfig",
    "TelemetryUnavailableError",
    "TerminalSafeFormatter",
    "TokenFingerprint",
    "ValueGuard",
    "atomic_write",
    "build_log_pipeline",
    "build_metric_pipeline",
    "can_hold_secret",
    "canonical_ip",
    "irregular_kind",
    "is_secret_key",
    "json_keys",
    "kind_of",
    "load_known_secrets",
    "open_regular",
    "open_shared",
    "read_fingerprint",
    "read_small_regular",
    "read_token_file",
    "remove_staged",
    "shutdown_together",
    "staged_file",
    "terminal_safe",
    "terminal_safe_json",
    "terminal_safe_lines",
    "write_fingerprint",
]
