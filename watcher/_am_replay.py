"""``--replay FILE --alerts OUT --alertmanager URL``: the replayed alerts to Alertmanager.

A replay is history: it is sent only when its own command line asks. Every alert of OUT is
posted in file order with the events' own times, so a backtest of a routing tree sees each
state change as it happened. Synchronous, with a few retries; it is the replay's last step.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import httpx
import msgspec

from watcher._alert import Alert
from watcher._alertmanager import DEFAULT_TIMEOUT_S, INITIAL_BACKOFF_S, MAX_BATCH
from watcher._am_alerts import AlertLabeler, label_guard, read_alert_lines
from watcher._am_config import AlertmanagerConfig, alerts_endpoint, display_url

logger = logging.getLogger(__name__)
_JSON = {"Content-Type": "application/json"}


class AlertmanagerUnavailable(OSError):
    """An Alertmanager did not take the alerts of a replay after every attempt."""


def post_alerts_file(config: AlertmanagerConfig, labeler: AlertLabeler, path: Path, *,
                     timeout_s: float = DEFAULT_TIMEOUT_S, attempts: int = 3,
                     transport: httpx.BaseTransport | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> int:
    """Posts every alert of an alerts file in file order, with the events' own times.

    For ``--replay --alertmanager``: a backtest of a routing tree sees each state change as
    it happened, a firing one without ``endsAt`` and a resolved one with it. Synchronous.

    Returns:
        The number of alerts posted to each Alertmanager.

    Raises:
        AlertmanagerUnavailable: a post failed ``attempts`` times (naming the URL).
    """
    count = 0
    with httpx.Client(timeout=timeout_s, transport=transport) as client:
        for url in config.urls:
            count = 0
            for batch in _batches(read_alert_lines(path), MAX_BATCH):
                body = msgspec.json.encode([labeler.to_api(alert) for alert in batch])
                _post_with_retries(client, url, body, attempts=attempts, sleep=sleep)
                count += len(batch)
    return count


def _batches(alerts: Iterable[Alert], size: int) -> Iterable[list[Alert]]:
    iterator = iter(alerts)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _post_with_retries(client: httpx.Client, url: str, body: bytes, *, attempts: int,
                       sleep: Callable[[float], None]) -> None:
    error = "no attempt"
    for attempt in range(max(1, attempts)):
        if attempt:
            sleep(INITIAL_BACKOFF_S * 2 ** (attempt - 1))
        try:
            reply = client.post(alerts_endpoint(url), content=body, headers=_JSON)
        except httpx.HTTPError as exc:
            error = type(exc).__name__
            continue
        if reply.status_code < 300 or reply.status_code == 400:
            if reply.status_code == 400:
                logger.warning("Alertmanager %s rejected alerts: %s", display_url(url),
                               reply.text[:200].replace("\n", " "))
            return
        error = f"HTTP {reply.status_code}"
    raise AlertmanagerUnavailable(f"Alertmanager {display_url(url)}: {error}")


def replay_to_alertmanager(config: AlertmanagerConfig, alerts_path: Path, *,
                           env: Mapping[str, str], home: Path,
                           token_files: Sequence[Path] = ()) -> int:
    """The wiring for ``--replay FILE --alerts OUT --alertmanager URL``: posts OUT.

    Raises:
        AlertmanagerUnavailable: an Alertmanager did not take them.
    """
    labeler = AlertLabeler(config.instance, label_guard(env, home=home, token_files=token_files))
    return post_alerts_file(config, labeler, alerts_path)
