"""HubTelemetry with file sources: the audit log and the hub's SQLite instead of taps."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from otel import HubTelemetry, TelemetryConfig
from otel.auditlog import parse_audit_format
from tests.otlp_receiver import wait_for

from .helpers import value
from .test_audit_source import append, line


def rate(tel: HubTelemetry, key: str) -> object:
    plane = "data" if key == "retry_rate_1m" else "control"
    return tel.snapshot_json(plane)[key]


@pytest.fixture
def audit_log(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "hub_security_audit.jsonl"
    path.parent.mkdir()
    return path


def test_hub_audit_log_makes_the_log_the_source_and_the_taps_are_ignored(
    audit_log: Path,
) -> None:
    now = time.time()
    append(audit_log, line(now - 20), line(now - 10, "PORT_MISMATCH"))
    config = TelemetryConfig.from_env({"HUB_AUDIT_LOG": str(audit_log)})
    assert config.audit_log == audit_log
    with HubTelemetry(config) as tel:
        assert wait_for(lambda: rate(tel, "auth_fail_rate_1m") == 1, 5)
        assert rate(tel, "port_mismatch_rate_1m") == 1
        # Read back from before the start: in the rates, not in the counters.
        assert value(tel, "control", "hub_auth_failures_total", plane="control",
                     reason="invalid_token") == 0
        tel.record_auth_failure("control", "invalid_token")  # a tap: ignored now
        append(audit_log, line(time.time()), line(time.time(), plane="data"))
        assert wait_for(lambda: rate(tel, "auth_fail_rate_1m") == 3, 5)
        assert value(tel, "control", "hub_auth_failures_total", plane="data",
                     reason="invalid_token") == 1


def test_two_processes_reading_one_log_agree(audit_log: Path) -> None:
    config = TelemetryConfig(audit_log=audit_log)
    with HubTelemetry(config) as first:
        append(audit_log, *[line(time.time())] * 5)
        assert wait_for(lambda: rate(first, "auth_fail_rate_1m") == 5, 5)
        with HubTelemetry(config) as late:  # started after the burst
            assert wait_for(lambda: rate(late, "auth_fail_rate_1m") == 5, 5)


def test_a_foreign_format_from_the_environment(audit_log: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "audit_format.json"
    mapping.write_text(json.dumps({"fields": {"event": "type", "ts": "time"},
                                   "ts_format": "epoch_s",
                                   "events": {"AUTH_FAILURE": "auth.fail"}}))
    env = {"HUB_AUDIT_LOG": str(audit_log), "HUB_AUDIT_FORMAT": str(mapping)}
    with HubTelemetry(TelemetryConfig.from_env(env)) as tel:
        append(audit_log, json.dumps({"time": time.time(), "type": "auth.fail",
                                      "plane": "data"}).encode() + b"\n")
        assert wait_for(lambda: rate(tel, "auth_fail_rate_1m") == 1, 5)


def test_the_homes_format_file_is_found(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    (home / "configs" / "audit_format.json").write_text("{}")
    config = TelemetryConfig.from_env({"SHERATAN_HOME": str(home)})
    assert config.audit_format == home / "configs" / "audit_format.json"


def test_a_bad_format_file_is_a_warning_and_the_taps_stay(
    audit_log: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": {"client": "event"}}')
    config = TelemetryConfig(audit_log=audit_log, audit_format=bad)
    with caplog.at_level(logging.WARNING), HubTelemetry(config) as tel:
        tel.record_auth_failure("control", "invalid_token")
        assert rate(tel, "auth_fail_rate_1m") == 1
    assert "HUB_AUDIT_FORMAT" in caplog.text and "fields.client" in caplog.text


def test_a_restarted_hub_seeds_its_rates_from_its_log(audit_log: Path) -> None:
    now = time.time()
    append(audit_log, line(now - 3600), *[line(now - 30)] * 3, line(now - 5, "PORT_MISMATCH"))
    with HubTelemetry() as tel:
        assert tel.seed_security_rates_from(audit_log) == 4
        assert rate(tel, "auth_fail_rate_1m") == 3
        assert rate(tel, "port_mismatch_rate_1m") == 1
        tel.record_auth_failure("control", "invalid_token")  # the taps go on
        assert rate(tel, "auth_fail_rate_1m") == 4
        assert value(tel, "control", "hub_auth_failures_total", plane="control",
                     reason="invalid_token") == 1


def test_retries_stamped_before_the_start_go_to_the_window_only() -> None:
    with HubTelemetry() as tel:
        tel.record_job_retry("failed", at=time.time() - 30)
        tel.record_job_retry("lease_expired", at=time.time() - 90)  # out of the window
        tel.record_job_retry("failed")
        assert rate(tel, "retry_rate_1m") == 2
        assert value(tel, "data", "hub_jobs_retries_total", cause="failed") == 1


def _db(tmp_path: Path) -> Path:
    path = tmp_path / "their.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE workers(id TEXT, last_beat REAL);
        CREATE TABLE tasks(uuid TEXT, status TEXT);
        CREATE TABLE retry_log(ts REAL, why TEXT);
        CREATE TABLE retry_counts(why TEXT PRIMARY KEY, total INTEGER);
        INSERT INTO retry_counts VALUES ('failed', 5);
    """)
    conn.commit()
    conn.close()
    return path


def _counts_file(tmp_path: Path, **queries: str) -> Path:
    path = tmp_path / "counts.json"
    path.write_text(json.dumps({"database": "their.db", **queries}))
    return path


def test_counts_and_retries_come_from_the_hubs_sqlite(tmp_path: Path) -> None:
    db = _db(tmp_path)
    counts = _counts_file(
        tmp_path,
        nodes="SELECT 'online', count(*) FROM workers",
        jobs="SELECT CASE status WHEN 'waiting' THEN 'queued' ELSE 'inflight' END, count(*) "
             "FROM tasks GROUP BY 1",
        retries_total="SELECT why, total FROM retry_counts",
        retries_window="SELECT why, count(*) FROM retry_log WHERE ts > :now - :window_s "
                       "GROUP BY why")
    conn = sqlite3.connect(db)
    conn.executemany("INSERT INTO workers VALUES (?, ?)", [("a", 1.0), ("b", 2.0)])
    conn.executemany("INSERT INTO tasks VALUES (?, ?)", [("1", "waiting"), ("2", "running")])
    conn.executemany("INSERT INTO retry_log VALUES (?, ?)",
                     [(time.time() - 10, "failed"), (time.time() - 100, "failed")])
    conn.commit()
    with HubTelemetry(TelemetryConfig.from_env({"HUB_COUNTS_SQL": str(counts)})) as tel:
        body = tel.snapshot_json("control")
        assert (body["nodes_online"], body["nodes_stale"], body["nodes_dead"]) == (2, 0, 0)
        assert tel.snapshot_json("data")["queue_depth"] == 1
        assert tel.snapshot_json("data")["inflight_jobs"] == 1
        assert rate(tel, "retry_rate_1m") == 1  # from retries_window, not from taps
        tel.record_job_retry("failed")  # ignored: the database is the source
        time.sleep(1.2)  # the baseline sample of retries_total (5) was taken
        conn.execute("UPDATE retry_counts SET total = 8")
        conn.commit()
        assert wait_for(lambda: value(tel, "data", "hub_jobs_retries_total",
                                      cause="failed") == 3, 5)
    conn.close()


def test_a_bad_counts_file_is_a_warning(tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "counts.json").write_text('{"database": "x.db"}')
    config = TelemetryConfig.from_env({"HUB_COUNTS_SQL": str(tmp_path / "counts.json")})
    with caplog.at_level(logging.WARNING), HubTelemetry(config) as tel:
        tel.record_job_retry("failed")
        assert rate(tel, "retry_rate_1m") == 1
    assert "HUB_COUNTS_SQL" in caplog.text


def test_a_database_that_fails_skips_the_gauges_not_the_scrape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    counts = _counts_file(tmp_path, nodes="SELECT 'online', count(*) FROM workers",
                          retries_window="SELECT why, count(*) FROM nowhere GROUP BY why")
    with caplog.at_level(logging.WARNING), \
            HubTelemetry(TelemetryConfig(counts_sql=counts)) as tel:  # no database yet
        assert tel.snapshot_json("control")["plane"] == "control"
        assert tel.snapshot_json("data")["plane"] == "data"
        body, _ = tel.render_prometheus("data")
        assert b"hub_jobs_retry_rate_1m_per_min" not in body
    assert "no such database" in caplog.text


def test_shutdown_stops_the_sources_promptly(audit_log: Path, tmp_path: Path) -> None:
    _db(tmp_path)
    counts = _counts_file(tmp_path, retries_total="SELECT why, total FROM retry_counts")
    tel = HubTelemetry(TelemetryConfig(audit_log=audit_log, counts_sql=counts))
    started = time.monotonic()
    tel.shutdown()
    tel.shutdown()
    assert time.monotonic() - started < 1.5


def test_the_audit_format_object_can_be_passed_in(audit_log: Path) -> None:
    fmt = parse_audit_format({"fields": {"event": "kind"}})
    with HubTelemetry() as tel:
        tel.count_security_events_from(audit_log, audit_format=fmt)
        append(audit_log, line(time.time()).replace(b'"event"', b'"kind"'))
        assert wait_for(lambda: rate(tel, "auth_fail_rate_1m") == 1, 5)
