"""``GET /metrics``: one collect, rendered as flat JSON (default) or Prometheus text."""

from __future__ import annotations

import enum

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from otel import HubTelemetry, Plane, TelemetryUnavailableError

_NO_STORE = {"Cache-Control": "no-store"}


class MetricsFormat(enum.Enum):
    JSON = "json"
    PROMETHEUS = "prometheus"
    OPENMETRICS = "openmetrics"


_MEDIA_TYPES = {
    "application/json": MetricsFormat.JSON,
    "text/plain": MetricsFormat.PROMETHEUS,
    "application/openmetrics-text": MetricsFormat.PROMETHEUS,
}


def negotiate(accept: str | None, query_format: str | None) -> MetricsFormat | None:
    """Choose the format: ``?format=`` wins; else the ``Accept`` type with the highest q.

    JSON is the default: no header, ``*/*``, or only types we do not serve. An ``Accept``
    that prefers ``text/plain`` or ``application/openmetrics-text`` (Prometheus' scraper
    sends the latter first) gets Prometheus text, as the contract says; OpenMetrics is
    served only for ``?format=openmetrics``. Returns None for an unknown ``?format=``.
    """
    if query_format is not None:
        try:
            return MetricsFormat(query_format.lower())
        except ValueError:
            return None
    best, best_q = MetricsFormat.JSON, 0.0
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        chosen = _MEDIA_TYPES.get(media.lower())
        if chosen is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Strictly greater: on a tie the earlier type wins, as the client listed it first.
        if q > best_q:
            best, best_q = chosen, q
    return best


def parse_plane(plane: Plane | str) -> Plane:
    """``plane`` as a :class:`otel.Plane`.

    Raises:
        ValueError: naming the valid planes and the bad value.
    """
    try:
        return Plane(plane)
    except ValueError:
        valid = ", ".join(p.value for p in Plane)
        raise ValueError(f"plane must be one of {valid}; got {plane!r}") from None


def mount_metrics(app: Starlette, telemetry: HubTelemetry, *, plane: Plane | str) -> None:
    """Add ``GET /metrics`` for ``plane`` to ``app`` (FastAPI or Starlette). It needs no
    token and changes nothing.

    Answers 400 for an unknown ``?format=``, and 503 with a JSON reason when telemetry is
    disabled (``OTEL_SDK_DISABLED=true``) or cannot be read.

    Raises:
        ValueError: ``plane`` is not a plane.
    """
    plane = parse_plane(plane).value

    async def metrics(request: Request) -> Response:
        query_format = request.query_params.get("format")
        chosen = negotiate(request.headers.get("accept"), query_format)
        if chosen is None:
            return JSONResponse(
                {"error": "unknown_format", "formats": [f.value for f in MetricsFormat]},
                status_code=400, headers=_NO_STORE,
            )
        try:
            if chosen is MetricsFormat.JSON:
                return JSONResponse(telemetry.snapshot_json(plane), headers=_NO_STORE)
            body, content_type = telemetry.render_prometheus(
                plane, openmetrics=chosen is MetricsFormat.OPENMETRICS)
        except TelemetryUnavailableError as exc:
            return JSONResponse({"error": "metrics_unavailable", "reason": exc.reason},
                                status_code=503, headers=_NO_STORE)
        return Response(body, media_type=content_type, headers=_NO_STORE)

    app.add_route("/metrics", metrics, methods=["GET", "HEAD"], include_in_schema=False)
