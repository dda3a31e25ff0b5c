"""``hub/audit_format.json`` reads the second hub's audit lines as the contract's: through
the same reader the watcher and the metrics layer use (``otel.auditlog``)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from otel.auditlog import RecordDecoder, load_audit_format

from .conftest import MakeDriver, MakeHub
from .harness import AUDIT_FORMAT, REPO

pytestmark = pytest.mark.e2e


class _Counts:
    parse_errors = 0
    invalid_events = 0


def test_the_hubs_lines_decode_to_contract_events(make_hub: MakeHub,
                                                  make_driver: MakeDriver) -> None:
    hub = make_hub().start()
    drive = make_driver(hub)
    drive.no_token("data", "POST", "/jobs")
    drive.bad_token("control")
    drive.wrong_port("data")
    counts = _Counts()
    fields = ("event", "plane", "port", "client", "method", "path", "reason", "expected_port")
    decoder = RecordDecoder(fields[1:], counts, audit_format=load_audit_format(AUDIT_FORMAT))
    lines = hub.audit.read_bytes().splitlines()
    records = [decoder.careful(line) for line in lines]
    assert counts.parse_errors == counts.invalid_events == 0
    ports = hub.ports
    seen = [tuple(getattr(r, name) for name in fields) for r in records if r is not None]
    assert seen == [
        ("AUTH_FAILURE", "data", ports["data"], "127.0.0.1", "POST", "/jobs", "missing_token",
         None),
        ("AUTH_FAILURE", "control", ports["control"], "127.0.0.1", "GET", "/nodes",
         "invalid_token", None),
        ("PORT_MISMATCH", "data", ports["data"], "127.0.0.1", "GET", "/nodes", None,
         ports["control"]),
    ]
    for line, record in zip(lines, records, strict=True):
        assert record is not None
        assert record.ts == datetime.fromtimestamp(json.loads(line)["time"], UTC)
        assert drive.ledger.auth_failures[0].lo - 1 < record.ts.timestamp()


def test_the_watcher_raises_alerts_from_the_hubs_log(make_hub: MakeHub,
                                                     make_driver: MakeDriver,
                                                     tmp_path: Path) -> None:
    hub = make_hub().start()
    drive = make_driver(hub)
    for plane in ("control", "data", "data"):
        drive.no_token(plane)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"ignore_clients": [], "rules": [
        {"name": "auth_burst", "event": "AUTH_FAILURE", "threshold": 2, "window_s": 60,
         "severity": "warning"}]}))
    alerts = tmp_path / "alerts.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "watcher", "--replay", str(hub.audit), "--alerts", str(alerts),
         "--rules", str(rules), "--audit-format", str(AUDIT_FORMAT)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    fired = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [(a["rule"], a["state"], a["count"]) for a in fired] == [("auth_burst", "firing", 3)]
