"""The environment variables ``python -m baseline_hub`` reads, for its ``--help``: one table,
each with its default and what it means.

The defaults come from the configs themselves (``HubConfig()``, ``TelemetryConfig()``), so
the help cannot drift from what the hub does. The parsing is theirs, not this module's.
"""

from __future__ import annotations

from typing import NamedTuple

from otel import TelemetryConfig
from sheratan_home.env import MAX_JOB_ATTEMPTS, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH

from .config import HubConfig


class EnvVar(NamedTuple):
    name: str
    default: str
    meaning: str


def hub_variables() -> list[EnvVar]:
    """Every variable the hub reads: the frozen v1.5 ones, then the telemetry layer's."""
    hub, tel = HubConfig(), TelemetryConfig()
    return [
        EnvVar("SHERATAN_HOME", f"./{hub.home.as_posix()}",
               "state root: logs/, state/, secrets/, configs/"),
        EnvVar("HUB_HOST", hub.host,
               "bind address of both planes; beyond loopback, other machines reach the hub"),
        EnvVar("HUB_CONTROL_PORT", str(hub.control_port),
               "control plane port (0: a free port, shown in the banner)"),
        EnvVar("HUB_DATA_PORT", str(hub.data_port), "data plane port (likewise)"),
        EnvVar("HUB_TOKEN", "generated",
               f"bearer token, {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters; unset: one "
               "is kept in secrets/hub_token"),
        EnvVar("HUB_NODE_STALE_S", f"{hub.node_stale_s:g}",
               "heartbeat age (s) beyond which a node is stale"),
        EnvVar("HUB_NODE_DEAD_S", f"{hub.node_dead_s:g}",
               "heartbeat age (s) beyond which a node is dead (above the stale age)"),
        EnvVar("HUB_JOB_LEASE_S", f"{hub.job_lease_s:g}", "default lease (s) on a claimed job"),
        EnvVar("HUB_JOB_MAX_ATTEMPTS", str(hub.job_max_attempts),
               f"attempts before a job is dead-lettered (1 to {MAX_JOB_ATTEMPTS})"),
        EnvVar("HUB_TRUSTED_PROXIES", "unset",
               "comma-separated IPs/CIDRs of proxies whose X-Forwarded-For names the client"),
        EnvVar("HUB_AUDIT_LOG", "unset",
               "count security events from this audit log, hub-wide, not from this process"),
        EnvVar("HUB_AUDIT_FORMAT", "configs/audit_format.json, if there",
               "the format of HUB_AUDIT_LOG's lines"),
        EnvVar("HUB_COUNTS_SQL", "unset",
               "a file of read-only queries for the node, job and retry counts"),
        EnvVar("OTEL_SDK_DISABLED", str(tel.sdk_disabled).lower(),
               "true: no telemetry at all (/metrics answers 503)"),
        EnvVar("OTEL_SERVICE_NAME", tel.service_name, "service.name of the exported metrics"),
        EnvVar("OTEL_RESOURCE_ATTRIBUTES", "unset", "key=value,... added to the resource"),
        EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", "unset",
               "OTLP collector base URL: set, metrics are also exported (opt-in)"),
        EnvVar("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "unset",
               "the metrics URL, used as is (also turns export on)"),
        EnvVar("OTEL_EXPORTER_OTLP_PROTOCOL", tel.otlp_protocol.value, "http/protobuf or grpc"),
        EnvVar("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL",
               "the same, metrics only"),
        EnvVar("OTEL_EXPORTER_OTLP_COMPRESSION", tel.otlp_compression.value, "gzip or none"),
        EnvVar("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION",
               "the same, metrics only"),
        EnvVar("OTEL_EXPORTER_OTLP_HEADERS", "unset",
               "key=value,... sent with every export"),
        EnvVar("OTEL_EXPORTER_OTLP_TIMEOUT", f"{tel.otlp_timeout_ms:g}",
               "one export's deadline, in ms"),
        EnvVar("OTEL_METRICS_EXPORTER", tel.metrics_exporter.value,
               "none: no metric export (/metrics still works)"),
        EnvVar("OTEL_METRIC_EXPORT_INTERVAL", f"{tel.metric_export_interval_ms:g}",
               "time between metric exports, in ms"),
        EnvVar("OTEL_METRIC_EXPORT_TIMEOUT", f"{tel.metric_export_timeout_ms:g}",
               "deadline of one metric export, in ms"),
    ]


def epilog() -> str:
    """The ``--help`` epilog: each variable with its default, its meaning on the next line."""
    lines = ["environment:"]
    for row in hub_variables():
        lines += [f"  {row.name}  (default: {row.default})", f"        {row.meaning}"]
    lines += ["", "An invalid HUB_* or SHERATAN_HOME value stops the hub with exit code 2; an",
              "invalid OTEL_* value is warned about, and its default used. With --watcher, the",
              "watcher gets this environment too (python -m watcher --help: what it reads)."]
    return "\n".join(lines)
