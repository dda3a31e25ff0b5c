"""Resource and opt-in OTLP exporters, built from a :class:`TelemetryConfig`.

Every exporter gets its endpoint, headers and timeout passed explicitly, so what is
exported follows the config object and not whatever the process environment holds.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    SERVICE_VERSION,
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    Resource,
)

from ._config import DEFAULT_SERVICE_NAME, OtlpCompression, OtlpProtocol, TelemetryConfig
from ._redaction import Redactor, is_secret_key

__all__ = [
    "DISTRIBUTION_NAME",
    "UNKNOWN_VERSION",
    "bounded_call",
    "build_resource",
    "layer_version",
    "log_exporter",
    "metric_exporter",
    "sdk_version",
]

_logger = logging.getLogger(__name__)

#: The installed distribution whose version is the default ``service.version``.
DISTRIBUTION_NAME = "sheratan-hub-observability"
#: ``service.version`` when that distribution is not installed.
UNKNOWN_VERSION = "unknown"

_X = TypeVar("_X")


def build_resource(
    config: TelemetryConfig,
    extra: Mapping[str, str | int | float | bool] | None,
    redactor: Redactor | None,
) -> Resource:
    """The resource: SDK identity < ``OTEL_RESOURCE_ATTRIBUTES`` < ``extra``, then service.name.

    ``service.instance.id`` is a fresh UUID4 unless ``OTEL_RESOURCE_ATTRIBUTES`` or ``extra``
    names one, so several hubs (or a hub and its watcher) sending to one collector never
    collide. ``service.version`` is the hub's when ``extra`` passes it, else this layer's
    package version (:func:`layer_version`).

    Built directly instead of with ``Resource.create``, which would read the process
    environment again behind the config's back.

    Args:
        config: the parsed config.
        extra: attributes the hub adds (its version, say).
        redactor: when given, an attribute whose key or value it flags is dropped. A
            secret-looking key (``hub_token``) is always dropped. A flagged
            ``service.name``, ``service.instance.id`` or ``service.version`` is replaced by
            its default rather than exported. Warnings name the key unless the key itself is
            what leaks; never a value.
    """
    attributes: dict[str, str | int | float | bool] = {
        TELEMETRY_SDK_LANGUAGE: "python",
        TELEMETRY_SDK_NAME: "opentelemetry",
        TELEMETRY_SDK_VERSION: sdk_version(),
    }
    attributes.update(config.resource_attributes)
    attributes.update(extra or {})
    defaults: dict[str, str | int | float | bool] = {
        SERVICE_INSTANCE_ID: str(uuid.uuid4()),
        SERVICE_VERSION: layer_version(),
    }
    for key, default in defaults.items():
        if not str(attributes.get(key, "")).strip():
            attributes[key] = default
    attributes[SERVICE_NAME] = config.service_name
    defaults[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    for key in list(attributes):
        if _flagged(redactor, key, attributes[key]):
            _screen(attributes, key, defaults.get(key), _leaks(redactor, key))
    return Resource(attributes)


def _flagged(redactor: Redactor | None, key: str, value: str | int | float | bool) -> bool:
    return is_secret_key(key) or _leaks(redactor, key) or _leaks(redactor, str(value))


def _screen(
    attributes: dict[str, str | int | float | bool],
    key: str,
    default: str | int | float | bool | None,
    key_leaks: bool,
) -> None:
    """Replace a flagged attribute by its default, or drop it when it has none."""
    if default is not None:
        _logger.warning("%s looks like a secret; exporting %r instead", key, default)
        attributes[key] = default
        return
    shown = "(a key that itself looks like a secret)" if key_leaks else repr(key)
    _logger.warning("dropping resource attribute %s: it looks like a secret", shown)
    del attributes[key]


def layer_version() -> str:
    """This layer's installed package version, or ``unknown`` when it is not installed
    (run from a source tree) or its metadata cannot be read."""
    return _installed_version(DISTRIBUTION_NAME)


def sdk_version() -> str:
    """The installed opentelemetry-sdk's version (``telemetry.sdk.version``), read as the
    SDK's own ``Resource.create`` reads it, or ``unknown``."""
    return _installed_version("opentelemetry-sdk")


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except Exception:  # a missing or broken install must not stop the hub
        return UNKNOWN_VERSION


def _leaks(redactor: Redactor | None, text: str) -> bool:
    return redactor is not None and bool(redactor.find_leaks(text))


def _guarded(signal: str, build: Callable[[], _X]) -> _X | None:
    """Build an exporter, or log why not and return None: telemetry never stops the host.

    The message names the signal and the exception type; the exception text could quote
    the endpoint (with credentials) or a header, so it stays out of the log.
    """
    try:
        return build()
    except Exception as exc:
        _logger.error(
            "the OTLP %s exporter could not be built (%s); running without it",
            signal,
            type(exc).__name__,
        )
        return None


def _exporter_kwargs(
    config: TelemetryConfig, url: str, protocol: OtlpProtocol, compression: OtlpCompression
) -> dict[str, Any]:
    """The arguments every OTLP exporter class of ``protocol`` takes, for either signal.

    Compression is always passed: given None, the SDK would read (and choke on) the
    environment's ``OTEL_EXPORTER_OTLP_*COMPRESSION`` itself.
    """
    kwargs: dict[str, Any] = {
        "endpoint": url,
        "headers": dict(config.otlp_headers) or None,
        "timeout": config.otlp_timeout_ms / 1000.0,
    }
    gzip = compression is OtlpCompression.GZIP
    if protocol is OtlpProtocol.GRPC:
        import grpc  # type: ignore[import-untyped]  # a dependency of the gRPC exporter

        kwargs["insecure"] = urlsplit(url).scheme == "http"
        kwargs["compression"] = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression

        kwargs["compression"] = Compression.Gzip if gzip else Compression.NoCompression
    return kwargs


def metric_exporter(config: TelemetryConfig) -> MetricExporter | None:
    """The OTLP metric exporter the config asks for, or None when export is off or the
    exporter cannot be built (logged as an error)."""
    url = config.metrics_endpoint_url
    if config.sdk_disabled or url is None:
        return None
    return _guarded("metric", lambda: _build_metric_exporter(config, url))


def _build_metric_exporter(config: TelemetryConfig, url: str) -> MetricExporter:
    protocol = config.metrics_protocol
    kwargs = _exporter_kwargs(config, url, protocol, config.metrics_compression)
    if protocol is OtlpProtocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter(**kwargs)


def log_exporter(config: TelemetryConfig) -> LogRecordExporter | None:
    """The OTLP log exporter the config asks for, or None when export is off or the
    exporter cannot be built (logged as an error)."""
    url = config.logs_endpoint_url
    if config.sdk_disabled or url is None:
        return None
    return _guarded("log", lambda: _build_log_exporter(config, url))


def _build_log_exporter(config: TelemetryConfig, url: str) -> LogRecordExporter:
    protocol = config.logs_protocol
    kwargs = _exporter_kwargs(config, url, protocol, config.logs_compression)
    if protocol is OtlpProtocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogExporter,
        )

        return GrpcLogExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    return HttpLogExporter(**kwargs)


def bounded_call(name: str, steps: list[Callable[[], object]], timeout_s: float) -> bool:
    """Run ``steps`` concurrently on daemon threads and wait at most ``timeout_s`` in all.

    The SDK's own shutdown can hang for 6 to 14 s on a dead collector (retries with
    backoff; opentelemetry-python #3309 and #4043). A daemon thread that is given up on
    never keeps the process alive, so the hub stops on time whatever the network does.
    The steps run side by side so that each provider reaches its exporter's
    ``shutdown()`` (which aborts the retry loop) within its own deadline, instead of
    the second waiting behind the first and being left retrying in the background.

    Returns:
        True when every step finished in time.
    """

    def run(step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:
            _logger.exception("%s: a shutdown step failed", name)

    deadline = time.monotonic() + max(timeout_s, 0.0)
    workers = [
        threading.Thread(target=run, args=(step,), name=f"{name}-shutdown-{i}", daemon=True)
        for i, step in enumerate(steps)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(deadline - time.monotonic(), 0.0))
    if any(worker.is_alive() for worker in workers):
        _logger.warning("%s: shutdown did not finish within %.1f s; abandoning it", name, timeout_s)
        return False
    return True
