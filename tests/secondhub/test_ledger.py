"""The ground-truth ledger on its own: the tests' expectations are only as good as it is."""

from __future__ import annotations

import pytest

from .ledger import Ambiguous, Ledger, Span


def _ledger() -> Ledger:
    return Ledger(stale_s=30, dead_s=120, max_attempts=2, sweep_s=1)


def test_node_states_by_heartbeat_age() -> None:
    ledger = _ledger()
    ledger.beat("a", Span(1000, 1000.1))
    ledger.beat("b", Span(1050, 1050.1))
    ledger.beat("c", Span(1100, 1100.1))
    ledger.forget("d")  # unknown: nothing happens
    at = Span(1150, 1150.5)  # ages ~150, ~100, ~50
    assert ledger.control(at) == {"nodes_online": 0, "nodes_stale": 2, "nodes_dead": 1,
                                  "auth_fail_rate_1m": 0, "port_mismatch_rate_1m": 0}
    ledger.beat("a", Span(1149, 1149.1))
    assert ledger.control(at)["nodes_online"] == 1
    with pytest.raises(Ambiguous, match="straddles 30"):
        ledger.control(Span(1129.95, 1130.2))  # c is 30 s old somewhere in there


def test_jobs_claims_retries_and_dead_letters() -> None:
    ledger = _ledger()
    for job in ("j1", "j2", "j3"):
        ledger.submitted(job, None)
    ledger.submitted("once", 1)
    assert ledger.next_claim() == "j1"
    ledger.claimed("j1", "w", Span(0, 0.1), 30)
    ledger.claimed("j2", "w", Span(0, 0.1), 5)
    assert ledger.failed("j1", Span(1, 1.1)) == "queued"
    assert ledger.next_claim() == "j1"  # the earliest submitted, requeued or not
    with pytest.raises(Ambiguous, match="lease of j2"):
        ledger.data(Span(5, 5.2))
    assert ledger.sweep(Span(10, 10.1)) == ["j2"]
    assert ledger.state("j2") == "queued"
    ledger.claimed("j1", "w", Span(11, 11.1), 30)
    assert ledger.failed("j1", Span(12, 12.1)) == "dead"  # attempt 2 of 2: no retry
    ledger.claimed("once", "w", Span(12, 12.1), 30)
    ledger.completed("once")
    assert ledger.data(Span(13, 13.1)) == {"queue_depth": 2, "inflight_jobs": 0,
                                           "retry_rate_1m": 2}
    assert ledger.retry_totals() == {"failed": 1, "lease_expired": 1}
    assert ledger.data(Span(100, 100.1))["retry_rate_1m"] == 0  # out of the window


def test_security_events_in_the_trailing_window() -> None:
    ledger = _ledger()
    for second in (0, 10, 20):
        ledger.auth_failure(Span(second, second + 0.1))
    ledger.port_mismatch(Span(5, 5.1))
    assert ledger.control(Span(30, 30.1))["auth_fail_rate_1m"] == 3
    assert ledger.control(Span(75, 75.1))["auth_fail_rate_1m"] == 1
    assert ledger.control(Span(75, 75.1))["port_mismatch_rate_1m"] == 0
    with pytest.raises(Ambiguous, match="edge of the window"):
        ledger.control(Span(70, 70.1))  # the event at 10 is 60 s old
