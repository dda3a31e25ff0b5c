"""Test helpers: a real OTLP/HTTP receiver built on opentelemetry-proto, and small waits."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, NumberDataPoint

_Point = TypeVar("_Point", NumberDataPoint, HistogramDataPoint)


class Receiver:
    """A minimal OTLP/HTTP collector on 127.0.0.1:0 that keeps what it decodes."""

    def __init__(self) -> None:
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/metrics":
                    metrics = ExportMetricsServiceRequest.FromString(body)
                    with receiver.lock:
                        receiver.metrics.append(metrics)
                    reply = ExportMetricsServiceResponse().SerializeToString()
                elif self.path == "/v1/logs":
                    logs = ExportLogsServiceRequest.FromString(body)
                    with receiver.lock:
                        receiver.logs.append(logs)
                    reply = ExportLogsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def metric_points(self) -> dict[str, tuple[dict[str, str], list[object]]]:
        """Metric name -> (resource attributes, data points), from everything received."""
        out: dict[str, tuple[dict[str, str], list[object]]] = {}
        with self.lock:
            requests = list(self.metrics)
        for request in requests:
            for rm in request.resource_metrics:
                resource = attrs(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        points = list(getattr(metric, kind).data_points) if kind else []
                        out[f"{sm.scope.name}/{metric.name}"] = (resource, points)
        return out


def number_points(points: Iterable[object]) -> list[NumberDataPoint]:
    """The data points of a sum or gauge (from ``metric_points``), checked to be such."""
    return [_checked(point, NumberDataPoint) for point in points]


def histogram_points(points: Iterable[object]) -> list[HistogramDataPoint]:
    """The data points of a histogram (from ``metric_points``), checked to be such."""
    return [_checked(point, HistogramDataPoint) for point in points]


def _checked(point: object, kind: type[_Point]) -> _Point:
    assert isinstance(point, kind), point
    return point


def attrs(pairs: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in pairs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
