"""Typed telemetry configuration, parsed once from the standard ``OTEL_*`` variables.

Only :meth:`TelemetryConfig.from_env` looks at an environment mapping, and only when the
edge of the program calls it. An invalid value never stops the hub: it is logged with the
variable's name and replaced by the default, as the OpenTelemetry SDK does. Every parser
below therefore catches what its input can make it raise; none lets an exception out.
"""

from __future__ import annotations

import enum
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from sheratan_home import HomeLayout
from sheratan_home import env as hub_env

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "DURATION_BOUNDS_MS",
    "OtlpCompression",
    "OtlpProtocol",
    "SignalExporter",
    "TelemetryConfig",
]

_logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "sheratan-hub"

#: Accepted range of each duration field, in milliseconds. Below the minimum an export
#: loop spins (1e-9 ms once gave thousands of exports a second); above the maximum a
#: typo silently turns export or its deadline off.
DURATION_BOUNDS_MS: Mapping[str, tuple[float, float]] = {
    "metric_export_interval_ms": (100.0, 86_400_000.0),  # 100 ms .. 1 day
    "metric_export_timeout_ms": (100.0, 600_000.0),  # 100 ms .. 10 min
    "otlp_timeout_ms": (100.0, 600_000.0),
}

_TRUE = frozenset({"true"})
_FALSE = frozenset({"false", ""})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,15}")
# RFC 9110 token characters; gRPC metadata additionally wants lowercase keys.
_HEADER_KEY = re.compile(r"[!#$%&'*+.^_`|~0-9a-z\-]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")


class OtlpProtocol(enum.Enum):
    """The OTLP transport, from ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or a per-signal one)."""

    HTTP_PROTOBUF = "http/protobuf"
    GRPC = "grpc"


class OtlpCompression(enum.Enum):
    """The OTLP payload compression, from ``OTEL_EXPORTER_OTLP_COMPRESSION``."""

    NONE = "none"
    GZIP = "gzip"


class SignalExporter(enum.Enum):
    """``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER``: the values this hub supports."""

    OTLP = "otlp"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """Everything the telemetry core needs from the environment, checked once.

    ``TelemetryConfig()`` is all defaults: telemetry on, OTLP export off.

    Attributes:
        sdk_disabled: ``OTEL_SDK_DISABLED=true`` turns every telemetry call into a no-op.
        service_name: ``OTEL_SERVICE_NAME``, else ``service.name`` from
            ``OTEL_RESOURCE_ATTRIBUTES``, else ``sheratan-hub``.
        resource_attributes: the pairs of ``OTEL_RESOURCE_ATTRIBUTES`` (``service.name``
            excluded; it lives in ``service_name``).
        otlp_endpoint: ``OTEL_EXPORTER_OTLP_ENDPOINT``, the base URL for every signal.
        otlp_metrics_endpoint: ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, used as is.
        otlp_logs_endpoint: ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``, used as is.
        otlp_protocol: ``OTEL_EXPORTER_OTLP_PROTOCOL``.
        otlp_metrics_protocol: ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``; None follows
            ``otlp_protocol``.
        otlp_logs_protocol: ``OTEL_EXPORTER_OTLP_LOGS_PROTOCOL``; likewise.
        otlp_compression: ``OTEL_EXPORTER_OTLP_COMPRESSION`` (``gzip`` or ``none``).
        otlp_metrics_compression: ``OTEL_EXPORTER_OTLP_METRICS_COMPRESSION``; None follows
            ``otlp_compression``.
        otlp_logs_compression: ``OTEL_EXPORTER_OTLP_LOGS_COMPRESSION``; likewise.
        metrics_exporter: ``OTEL_METRICS_EXPORTER``; ``none`` turns metric export off.
        logs_exporter: ``OTEL_LOGS_EXPORTER``; ``none`` turns log export off.
        otlp_headers: ``OTEL_EXPORTER_OTLP_HEADERS``. Often holds an API key, so it is kept
            out of ``repr``.
        otlp_timeout_ms: ``OTEL_EXPORTER_OTLP_TIMEOUT``, in milliseconds as the
            specification says (the Python SDK itself reads it as seconds).
        metric_export_interval_ms: ``OTEL_METRIC_EXPORT_INTERVAL``.
        metric_export_timeout_ms: ``OTEL_METRIC_EXPORT_TIMEOUT``.
        audit_log: ``HUB_AUDIT_LOG``: the hub's audit log. When set, the security counters
            and ``*_rate_1m`` gauges come from it, hub-wide, instead of the taps.
        audit_format: ``HUB_AUDIT_FORMAT``, else ``$SHERATAN_HOME/configs/audit_format.json``
            when it exists: how the audit lines are written (None: the contract's line).
        counts_sql: ``HUB_COUNTS_SQL``: a file of read-only queries on the hub's SQLite for
            the node, job and retry counts (see ``otel._sql_counts``).
    """

    sdk_disabled: bool = False
    service_name: str = DEFAULT_SERVICE_NAME
    resource_attributes: tuple[tuple[str, str], ...] = ()
    otlp_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    otlp_protocol: OtlpProtocol = OtlpProtocol.HTTP_PROTOBUF
    otlp_metrics_protocol: OtlpProtocol | None = None
    otlp_logs_protocol: OtlpProtocol | None = None
    otlp_compression: OtlpCompression = OtlpCompression.NONE
    otlp_metrics_compression: OtlpCompression | None = None
    otlp_logs_compression: OtlpCompression | None = None
    metrics_exporter: SignalExporter = SignalExporter.OTLP
    logs_exporter: SignalExporter = SignalExporter.OTLP
    otlp_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    otlp_timeout_ms: float = 10_000.0
    metric_export_interval_ms: float = 60_000.0
    metric_export_timeout_ms: float = 30_000.0
    audit_log: Path | None = None
    audit_format: Path | None = None
    counts_sql: Path | None = None

    def __post_init__(self) -> None:
        # Programmer errors in a hand-built config fail fast; env values never get here
        # unchecked because from_env() validates and clamps them first.
        for name, (low, high) in DURATION_BOUNDS_MS.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(
                    f"TelemetryConfig.{name} must be in {low:g}..{high:g} ms, got {value!r}"
                )
        if not self.service_name:
            raise ValueError("TelemetryConfig.service_name must not be empty")

    @property
    def metrics_export_enabled(self) -> bool:
        """True when OTLP metric export is configured and the SDK is not disabled."""
        return not self.sdk_disabled and self.metrics_endpoint_url is not None

    @property
    def logs_export_enabled(self) -> bool:
        """True when OTLP log export is configured and the SDK is not disabled."""
        return not self.sdk_disabled and self.logs_endpoint_url is not None

    @property
    def metrics_protocol(self) -> OtlpProtocol:
        """The protocol of the metric exporter: the per-signal one, else the general one."""
        return self.otlp_metrics_protocol or self.otlp_protocol

    @property
    def logs_protocol(self) -> OtlpProtocol:
        """The protocol of the log exporter: the per-signal one, else the general one."""
        return self.otlp_logs_protocol or self.otlp_protocol

    @property
    def metrics_compression(self) -> OtlpCompression:
        """The compression of the metric exporter."""
        return self.otlp_metrics_compression or self.otlp_compression

    @property
    def logs_compression(self) -> OtlpCompression:
        """The compression of the log exporter."""
        return self.otlp_logs_compression or self.otlp_compression

    @property
    def metrics_endpoint_url(self) -> str | None:
        """The URL the metric exporter sends to, or None when export is off."""
        if self.metrics_exporter is SignalExporter.NONE:
            return None
        return self._signal_url(self.otlp_metrics_endpoint, self.metrics_protocol, "v1/metrics")

    @property
    def logs_endpoint_url(self) -> str | None:
        """The URL the log exporter sends to, or None when export is off."""
        if self.logs_exporter is SignalExporter.NONE:
            return None
        return self._signal_url(self.otlp_logs_endpoint, self.logs_protocol, "v1/logs")

    def _signal_url(
        self, specific: str | None, protocol: OtlpProtocol, http_path: str
    ) -> str | None:
        if specific is not None:
            return specific
        if self.otlp_endpoint is None:
            return None
        if protocol is OtlpProtocol.GRPC:
            return self.otlp_endpoint
        # The specification: the generic endpoint is a base URL and each signal appends
        # its own path; a signal-specific endpoint is used exactly as given.
        return self.otlp_endpoint.rstrip("/") + "/" + http_path

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TelemetryConfig:
        """Parse the ``OTEL_*`` variables of ``environ``.

        Args:
            environ: usually ``os.environ``; tests pass a plain dict.

        Returns:
            The frozen config. An invalid value is logged as a warning naming the
            variable, and the default is used instead; a duration outside
            :data:`DURATION_BOUNDS_MS` is clamped to the nearest bound with a warning.
        """
        defaults = cls()
        resource = _parse_pairs(environ, "OTEL_RESOURCE_ATTRIBUTES", secret=False)
        service_name = environ.get("OTEL_SERVICE_NAME", "").strip()
        if not service_name:
            service_name = dict(resource).get("service.name", "").strip() or DEFAULT_SERVICE_NAME
        return cls(
            sdk_disabled=_parse_bool(environ, "OTEL_SDK_DISABLED", default=defaults.sdk_disabled),
            service_name=service_name,
            resource_attributes=tuple((k, v) for k, v in resource if k != "service.name"),
            otlp_endpoint=_parse_url(environ, "OTEL_EXPORTER_OTLP_ENDPOINT"),
            otlp_metrics_endpoint=_parse_url(environ, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            otlp_logs_endpoint=_parse_url(environ, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            otlp_protocol=_parse_enum(
                environ, "OTEL_EXPORTER_OTLP_PROTOCOL", OtlpProtocol, defaults.otlp_protocol
            ),
            otlp_metrics_protocol=_parse_enum(
                environ, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", OtlpProtocol, None
            ),
            otlp_logs_protocol=_parse_enum(
                environ, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", OtlpProtocol, None
            ),
            otlp_compression=_parse_enum(
                environ, "OTEL_EXPORTER_OTLP_COMPRESSION", OtlpCompression,
                defaults.otlp_compression,
            ),
            otlp_metrics_compression=_parse_enum(
                environ, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", OtlpCompression, None
            ),
            otlp_logs_compression=_parse_enum(
                environ, "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", OtlpCompression, None
            ),
            metrics_exporter=_parse_exporter(environ, "OTEL_METRICS_EXPORTER"),
            logs_exporter=_parse_exporter(environ, "OTEL_LOGS_EXPORTER"),
            otlp_headers=_parse_headers(environ, "OTEL_EXPORTER_OTLP_HEADERS"),
            otlp_timeout_ms=_parse_ms(
                environ, "OTEL_EXPORTER_OTLP_TIMEOUT", "otlp_timeout_ms", defaults
            ),
            metric_export_interval_ms=_parse_ms(
                environ, "OTEL_METRIC_EXPORT_INTERVAL", "metric_export_interval_ms", defaults
            ),
            metric_export_timeout_ms=_parse_ms(
                environ, "OTEL_METRIC_EXPORT_TIMEOUT", "metric_export_timeout_ms", defaults
            ),
            audit_log=_parse_path(environ, "HUB_AUDIT_LOG"),
            audit_format=_audit_format_path(environ),
            counts_sql=_parse_path(environ, "HUB_COUNTS_SQL"),
        )


def _parse_path(environ: Mapping[str, str], name: str) -> Path | None:
    """A file path from ``name``; blank counts as unset. Whether it exists is checked where
    the file is read (a log may appear later)."""
    raw = environ.get(name, "").strip()
    return Path(raw) if raw else None


def _audit_format_path(environ: Mapping[str, str]) -> Path | None:
    """``HUB_AUDIT_FORMAT``, else the home's ``configs/audit_format.json`` when present."""
    explicit = _parse_path(environ, "HUB_AUDIT_FORMAT")
    if explicit is not None:
        return explicit
    default = HomeLayout(hub_env.home(environ)).audit_format
    return default if default.is_file() else None


def _warn(name: str, shown: str, default: object) -> None:
    _logger.warning("Invalid value %s for %s; using the default %r", shown, name, default)


def _parse_bool(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _warn(name, repr(raw), default)
    return default


def _parse_ms(
    environ: Mapping[str, str], name: str, field_name: str, defaults: TelemetryConfig
) -> float:
    default: float = getattr(defaults, field_name)
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        _warn(name, repr(raw), default)
        return default
    low, high = DURATION_BOUNDS_MS[field_name]
    clamped = min(max(value, low), high)
    if clamped != value:
        _logger.warning(
            "Value %r for %s is outside %g..%g ms; using %g ms", raw, name, low, high, clamped
        )
    return clamped


def _parse_url(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    try:
        parts = urlsplit(value)
        # .hostname and .port raise ValueError on a bad IPv6 literal or port.
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (
            parts.port is None or parts.port > 0
        )
    except ValueError:
        ok = False
    if not ok:
        # The URL may carry credentials, so only a well-formed scheme is shown, and it is
        # found without urlsplit, which is what may have just failed.
        scheme, sep, _ = value.partition("://")
        shown = scheme if sep and _SCHEME.fullmatch(scheme) else "missing"
        _warn(name, f"(scheme {shown!r}; need http(s)://host[:port])", None)
        return None
    return value


_E = TypeVar("_E", bound=enum.Enum)
_D = TypeVar("_D")


def _parse_enum(
    environ: Mapping[str, str], name: str, kind: type[_E], default: _D
) -> _E | _D:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw.strip().lower())
    except ValueError:
        shown = default.value if isinstance(default, enum.Enum) else default
        _warn(name, repr(raw), shown)
        return default


def _parse_exporter(environ: Mapping[str, str], name: str) -> SignalExporter:
    """A comma-separated exporter list; only ``otlp`` and ``none`` are supported here.

    The specification asks that an unrecognised value be warned about and ignored, which
    leaves the default, ``otlp``. ``none`` counts only alone (``otlp,none`` is
    contradictory, so it is ignored too). ``/metrics`` already serves Prometheus text,
    so ``prometheus`` (like ``console``) is one of the ignored values.
    """
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return SignalExporter.OTLP
    members = {m.strip().lower() for m in raw.split(",") if m.strip()}
    unsupported = sorted(members - {e.value for e in SignalExporter})
    if unsupported:
        _logger.warning(
            "Unsupported exporter(s) %s in %s; only 'otlp' and 'none' are supported here",
            unsupported, name,
        )
    if members == {SignalExporter.NONE.value}:
        return SignalExporter.NONE
    if SignalExporter.NONE.value in members:
        _warn(name, repr(raw), SignalExporter.OTLP.value)
    return SignalExporter.OTLP


def _parse_pairs(
    environ: Mapping[str, str], name: str, *, secret: bool
) -> tuple[tuple[str, str], ...]:
    """Parse the W3C-baggage-like ``k=v,k2=v2`` list of the specification.

    A malformed member is skipped with a warning, as the SDK does, instead of losing the
    whole list. For a secret list (headers) the warning shows the position only.
    """
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return ()
    pairs: dict[str, str] = {}
    for index, member in enumerate(raw.split(",")):
        if not member.strip():
            continue
        key, sep, value = member.partition("=")
        key = unquote(key.strip())
        if not sep or not key:
            shown = f"(member {index})" if secret else repr(member.strip())
            _logger.warning("Invalid member %s in %s; skipping it", shown, name)
            continue
        pairs[key] = unquote(value.strip())
    return tuple(pairs.items())


def _parse_headers(environ: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """Headers: keys lowercased (gRPC metadata rejects upper case); a member that no
    transport could send (a key that is no HTTP token, a value with CR/LF or non-ASCII)
    is skipped with a warning here instead of failing every export later."""
    headers: list[tuple[str, str]] = []
    for index, (key, value) in enumerate(_parse_pairs(environ, name, secret=True)):
        key = key.lower()
        if _HEADER_KEY.fullmatch(key) and _HEADER_VALUE.fullmatch(value):
            headers.append((key, value))
        else:
            _logger.warning("Invalid header %s in %s; skipping it", f"(pair {index})", name)
    return tuple(headers)
