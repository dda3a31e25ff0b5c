"""Alerts as OpenTelemetry log records: firing is WARN, resolved is INFO, attributes ``alert.*``.

Kept apart from the other sinks so that ``--replay`` never imports the OTel SDK.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.util.types import AttributeValue

from watcher._alert import Alert, AlertState
from watcher._sinks import AlertSink
from watcher._timefmt import format_us

logger = logging.getLogger(__name__)

SCOPE_NAME = "sheratan.watcher"
EVENT_NAME = "sheratan.watcher.alert"


def alert_attributes(alert: Alert) -> dict[str, AttributeValue]:
    """The ``alert.*`` attributes: the same allow-list as the alerts.jsonl fields."""
    attributes: dict[str, AttributeValue] = {
        "alert.id": alert.alert_id,
        "alert.rule": alert.rule,
        "alert.event": alert.event,
        "alert.state": alert.state.value,
        "alert.severity": alert.severity,
        "alert.count": alert.count,
        "alert.threshold": alert.threshold,
        "alert.window_s": alert.window_us / 1_000_000,
        "alert.first_seen": format_us(alert.first_seen_us),
        "alert.last_seen": format_us(alert.last_seen_us),
    }
    for name, value in alert.group:
        if value is not None:
            attributes[f"alert.group.{name}"] = value
    return attributes


class OTelAlertSink(AlertSink):
    """Emits each alert as a log record through ``logger_provider``.

    Args:
        logger_provider: an SDK LoggerProvider; its processors decide where records go
            (OTLP, in-memory for tests). The caller owns it and shuts it down.

    Telemetry never takes the watcher down: export errors are logged and dropped.
    """

    def __init__(self, logger_provider: LoggerProvider) -> None:
        self._logger = logger_provider.get_logger(SCOPE_NAME)

    def emit(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            firing = alert.state is AlertState.FIRING
            try:
                self._logger.emit(
                    timestamp=alert.ts_us * 1000,
                    observed_timestamp=time.time_ns(),
                    severity_number=SeverityNumber.WARN if firing else SeverityNumber.INFO,
                    severity_text="WARN" if firing else "INFO",
                    body=alert.summary(),
                    attributes=alert_attributes(alert),
                    event_name=EVENT_NAME,
                )
            except Exception:
                logger.warning("could not emit alert %s as a log record", alert.alert_id,
                               exc_info=True)
