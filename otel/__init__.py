"""The Sheratan hub's telemetry core: OTel instruments, readers, renderers and redaction.

It knows nothing about FastAPI or about any hub; ``hub_middleware`` wires it in.

Example::

    from otel import HubTelemetry, TelemetryConfig

    telemetry = HubTelemetry(TelemetryConfig.from_env(os.environ))
    telemetry.set_node_counts_source(lambda: {"online": 3, "stale": 0, "dead": 0})
    telemetry.record_request("control", "GET", "/nodes", 200, 8787, 0.002)
    body = telemetry.snapshot_json("control")
    telemetry.shutdown()
"""

from __future__ import annotations

from ._config import (
    DEFAULT_SERVICE_NAME,
    DURATION_BOUNDS_MS,
    OtlpCompression,
    OtlpProtocol,
    SignalExporter,
    TelemetryConfig,
)
from ._instruments import Plane, json_keys
from ._redaction import MIN_SECRET_LEN, REDACTED, Redactor, is_secret_key
from ._render import OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE
from ._telemetry import CountsSource, HubTelemetry, TelemetryUnavailableError

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "DURATION_BOUNDS_MS",
    "MIN_SECRET_LEN",
    "OPENMETRICS_CONTENT_TYPE",
    "PROMETHEUS_CONTENT_TYPE",
    "REDACTED",
    "CountsSource",
    "HubTelemetry",
    "OtlpCompression",
    "OtlpProtocol",
    "Plane",
    "Redactor",
    "SignalExporter",
    "TelemetryConfig",
    "TelemetryUnavailableError",
    "is_secret_key",
    "json_keys",
]
