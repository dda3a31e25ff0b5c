"""Typed telemetry configuration, parsed once from the standard ``OTEL_*`` variables.

Only :meth:`TelemetryConfig.from_env` looks at an environment mapping, and only when the
edge of the program calls it. An invalid value never stops the hub: it is logged with the
variable's name and replaced by the default, as the OpenTelemetry SDK does.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_SERVICE_NAME", "OtlpProtocol", "TelemetryConfig"]

_logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "sheratan-hub"

_TRUE = frozenset({"true"})
_FALSE = frozenset({"false", ""})


class OtlpProtocol(enum.Enum):
    """The OTLP transport, from ``OTEL_EXPORTER_OTLP_PROTOCOL``."""

    HTTP_PROTOBUF = "http/protobuf"
    GRPC = "grpc"


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
        otlp_headers: ``OTEL_EXPORTER_OTLP_HEADERS``. Often holds an API key, so it is kept
            out of ``repr``.
        otlp_timeout_ms: ``OTEL_EXPORTER_OTLP_TIMEOUT``, in milliseconds as the
            specification says (the Python SDK itself reads it as seconds).
        metric_export_interval_ms: ``OTEL_METRIC_EXPORT_INTERVAL``.
        metric_export_timeout_ms: ``OTEL_METRIC_EXPORT_TIMEOUT``.
    """

    sdk_disabled: bool = False
    service_name: str = DEFAULT_SERVICE_NAME
    resource_attributes: tuple[tuple[str, str], ...] = ()
    otlp_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    otlp_protocol: OtlpProtocol = OtlpProtocol.HTTP_PROTOBUF
    otlp_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    otlp_timeout_ms: float = 10_000.0
    metric_export_interval_ms: float = 60_000.0
    metric_export_timeout_ms: float = 30_000.0

    def __post_init__(self) -> None:
        # Programmer errors in a hand-built config fail fast; env values never get here
        # unchecked because from_env() validates them first.
        for name in ("otlp_timeout_ms", "metric_export_interval_ms", "metric_export_timeout_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"TelemetryConfig.{name} must be a positive number, got {value!r}")
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
    def metrics_endpoint_url(self) -> str | None:
        """The URL the metric exporter sends to, or None when export is off."""
        return self._signal_url(self.otlp_metrics_endpoint, "v1/metrics")

    @property
    def logs_endpoint_url(self) -> str | None:
        """The URL the log exporter sends to, or None when export is off."""
        return self._signal_url(self.otlp_logs_endpoint, "v1/logs")

    def _signal_url(self, specific: str | None, http_path: str) -> str | None:
        if specific is not None:
            return specific
        if self.otlp_endpoint is None:
            return None
        if self.otlp_protocol is OtlpProtocol.GRPC:
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
            variable, and the default is used instead.
        """
        resource = _parse_pairs(environ, "OTEL_RESOURCE_ATTRIBUTES", secret=False)
        service_name = environ.get("OTEL_SERVICE_NAME", "").strip()
        if not service_name:
            service_name = dict(resource).get("service.name", "") or DEFAULT_SERVICE_NAME
        return cls(
            sdk_disabled=_parse_bool(environ, "OTEL_SDK_DISABLED", default=False),
            service_name=service_name,
            resource_attributes=tuple((k, v) for k, v in resource if k != "service.name"),
            otlp_endpoint=_parse_url(environ, "OTEL_EXPORTER_OTLP_ENDPOINT"),
            otlp_metrics_endpoint=_parse_url(environ, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            otlp_logs_endpoint=_parse_url(environ, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            otlp_protocol=_parse_protocol(environ, "OTEL_EXPORTER_OTLP_PROTOCOL"),
            otlp_headers=_parse_pairs(environ, "OTEL_EXPORTER_OTLP_HEADERS", secret=True),
            otlp_timeout_ms=_parse_ms(environ, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000.0),
            metric_export_interval_ms=_parse_ms(environ, "OTEL_METRIC_EXPORT_INTERVAL", 60_000.0),
            metric_export_timeout_ms=_parse_ms(environ, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000.0),
        )


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


def _parse_ms(environ: Mapping[str, str], name: str, default: float) -> float:
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
    return value


def _parse_url(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        if ok:
            _ = parts.port  # raises ValueError on a port outside 0..65535
    except ValueError:
        ok = False
    if not ok:
        # The URL may carry credentials, so only its scheme is shown.
        _warn(name, f"(scheme {urlsplit(value).scheme or 'missing'!r}, need http/https)", None)
        return None
    return value


def _parse_protocol(environ: Mapping[str, str], name: str) -> OtlpProtocol:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return OtlpProtocol.HTTP_PROTOBUF
    try:
        return OtlpProtocol(raw.strip().lower())
    except ValueError:
        _warn(name, repr(raw), OtlpProtocol.HTTP_PROTOBUF.value)
        return OtlpProtocol.HTTP_PROTOBUF


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
