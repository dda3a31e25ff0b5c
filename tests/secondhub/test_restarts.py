"""``/metrics`` stays equal to ground truth across ``kill -9`` and restarts of either
process, audit log rotation (by rename and by copytruncate), and a process that starts
after a burst. The ground truth is the test's own ledger; the processes come and go, the
audit log and the database stay. Until otel reads the variables named in each marker,
these fail in the metrics comparison only (``layer.needs_otel``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

from .conftest import MakeDriver, MakeHub
from .driver import Driver, assert_metrics
from .harness import Knobs, SecondHub
from .layer import needs_otel

pytestmark = pytest.mark.e2e

SECURITY = ("auth_fail_rate_1m", "port_mismatch_rate_1m")
AUDIT = ("HUB_AUDIT_LOG", "HUB_AUDIT_FORMAT")


def _burst(drive: Driver, size: int = 2, planes: tuple[str, ...] = ("control", "data")) -> None:
    """Auth failures (missing and wrong tokens) and port mismatches sent to ``planes``."""
    for _ in range(size):
        for plane in planes:
            drive.no_token(plane)
            drive.bad_token(plane)
            drive.wrong_port(plane)


def _rotate_by_rename(hub: SecondHub) -> None:
    """As logrotate's ``create``: shift ``.1`` to ``.2``, the log to ``.1``."""
    one = hub.audit.with_name(hub.audit.name + ".1")
    if one.exists():
        os.replace(one, hub.audit.with_name(hub.audit.name + ".2"))
    os.replace(hub.audit, one)


def _rotate_by_copytruncate(hub: SecondHub) -> None:
    """As logrotate's ``copytruncate``: copy the log to ``.1``, then empty it in place."""
    one = hub.audit.with_name(hub.audit.name + ".1")
    if one.exists():
        os.replace(one, hub.audit.with_name(hub.audit.name + ".2"))
    shutil.copyfile(hub.audit, one)
    with open(hub.audit, "r+b") as log:
        log.truncate(0)


@needs_otel(*AUDIT)
def test_kill_9_and_restart_of_either_process(make_hub: MakeHub,
                                              make_driver: MakeDriver) -> None:
    hub = make_hub(observe=True).start()
    drive = make_driver(hub)
    _burst(drive)
    assert_metrics(drive, "control", SECURITY)
    hub.kill("control")
    hub.start("control")  # reads the trailing minute back from the log
    assert_metrics(drive, "control", SECURITY)
    hub.kill("data")
    _burst(drive, planes=("control",))  # while data is down
    hub.start("data")
    _burst(drive)
    assert_metrics(drive, "control", SECURITY)
    drive.raise_deferred()



@needs_otel(*AUDIT)
@pytest.mark.parametrize("rotate", [_rotate_by_rename, _rotate_by_copytruncate],
                         ids=["rename", "copytruncate"])
def test_audit_log_rotation(make_hub: MakeHub, make_driver: MakeDriver,
                            rotate: Callable[[SecondHub], None]) -> None:
    hub = make_hub(observe=True).start()
    drive = make_driver(hub)
    _burst(drive)
    assert_metrics(drive, "control", SECURITY)
    rotate(hub)
    _burst(drive, 3)  # the hub writes on into a fresh (or emptied) log
    assert_metrics(drive, "control", SECURITY)
    hub.kill("control")
    hub.start("control")  # its trailing minute now spans the rotated log and the new one
    assert_metrics(drive, "control", SECURITY)
    rotate(hub)  # again, under the running process
    drive.no_token("data")
    assert_metrics(drive, "control", SECURITY)
    drive.raise_deferred()


@needs_otel(*AUDIT, "HUB_COUNTS_SQL")
def test_a_process_started_after_a_burst(make_hub: MakeHub, make_driver: MakeDriver) -> None:
    hub = make_hub(observe=True, knobs=Knobs(max_tries=3)).start("data")
    drive = make_driver(hub)
    _burst(drive, 3, planes=("data",))  # only the data process is up
    jobs = [drive.submit() for _ in range(4)]
    drive.claim("w1", 30)
    assert drive.fail(jobs[0]) == "queued"
    drive.claim("w1", 0.4)  # jobs[0] again: the earliest queued
    drive.claim("w1", 0.4)
    drive.sweep(0.4)
    drive.claim("w2", 30)
    assert_metrics(drive, "data")
    hub.start("control")
    assert_metrics(drive, "control")
    hub.kill("data")
    hub.start("data")  # the queue, inflight jobs and retries in the window: from the db
    assert_metrics(drive, "data")
    assert_metrics(drive, "control")
    drive.raise_deferred()
