"""Resource and opt-in OTLP exporters, built from a :class:`TelemetryConfig`.

Every exporter gets its endpoint, headers and timeout passed explicitly, so what is
exported follows the config object and not whatever the process environment holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    Resource,
)
from opentelemetry.sdk.version import __version__ as _SDK_VERSION

from ._config import OtlpProtocol, TelemetryConfig

__all__ = ["bounded_call", "build_resource", "log_exporter", "metric_exporter"]

_logger = logging.getLogger(__name__)


def build_resource(
    config: TelemetryConfig,
    extra: Mapping[str, str | int | float | bool] | None,
    keep: Callable[[str, str], bool],
) -> Resource:
    """The resource: SDK identity < ``OTEL_RESOURCE_ATTRIBUTES`` < ``extra``, then service.name.

    Built directly instead of with ``Resource.create``, which would read the process
    environment again behind the config's back.

    Args:
        config: the parsed config.
        extra: attributes the hub adds (its version, say).
        keep: decides whether an attribute may be exported; a rejected one is dropped with
            a warning naming its key (never its value).
    """
    attributes: dict[str, str | int | float | bool] = {
        TELEMETRY_SDK_LANGUAGE: "python",
        TELEMETRY_SDK_NAME: "opentelemetry",
        TELEMETRY_SDK_VERSION: _SDK_VERSION,
    }
    attributes.update(config.resource_attributes)
    attributes.update(extra or {})
    attributes[SERVICE_NAME] = config.service_name
    for key in list(attributes):
        if not keep(key, str(attributes[key])):
            _logger.warning("dropping resource attribute %r: it looks like a secret", key)
            del attributes[key]
    return Resource(attributes)


def _timeout_s(config: TelemetryConfig) -> float:
    return config.otlp_timeout_ms / 1000.0


def _grpc_insecure(url: str) -> bool:
    return urlsplit(url).scheme == "http"


def metric_exporter(config: TelemetryConfig) -> MetricExporter | None:
    """The OTLP metric exporter the config asks for, or None when export is off."""
    url = config.metrics_endpoint_url
    if config.sdk_disabled or url is None:
        return None
    headers = dict(config.otlp_headers) or None
    if config.otlp_protocol is OtlpProtocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(
            endpoint=url, insecure=_grpc_insecure(url), headers=headers, timeout=_timeout_s(config)
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter(endpoint=url, headers=headers, timeout=_timeout_s(config))


def log_exporter(config: TelemetryConfig) -> LogRecordExporter | None:
    """The OTLP log exporter the config asks for, or None when export is off."""
    url = config.logs_endpoint_url
    if config.sdk_disabled or url is None:
        return None
    headers = dict(config.otlp_headers) or None
    if config.otlp_protocol is OtlpProtocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogExporter,
        )

        return GrpcLogExporter(
            endpoint=url, insecure=_grpc_insecure(url), headers=headers, timeout=_timeout_s(config)
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    return HttpLogExporter(endpoint=url, headers=headers, timeout=_timeout_s(config))


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
