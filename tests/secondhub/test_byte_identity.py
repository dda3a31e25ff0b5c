"""The layer changes nothing the hub says: the same script, with and without
``SECONDHUB_OBSERVE=1``, gives the same answers, audit lines and database, byte for byte.

Both runs use the same ports and the scripted clock (``scripted.py``), so times, task ids
and ports in answers and audit lines are the same by construction; only ``Date`` headers
differ. Between steps each run scrapes ``/metrics`` on both ports (404 without the layer,
200 with it), and with the layer on, the layer reads the audit log and the database
(``HUB_AUDIT_LOG``, ``HUB_COUNTS_SQL``, once otel reads them) while the hub writes them.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import MakeHub
from .driver import wait_until
from .harness import STOPPED, TOKEN, Knobs, SecondHub
from .scripted import set_clock

pytestmark = pytest.mark.e2e

T0 = 1_764_411_300.0
KNOBS = Knobs(stale_s=30, dead_s=120, lease_s=30, max_tries=3, sweep_s=0.05)
J1, J2, J3 = (f"{n:032x}" for n in (1, 2, 3))
_GOOD = {"Authorization": f"Bearer {TOKEN}"}
_BAD = {"Authorization": "Bearer not-the-token-0123456789"}
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Send:
    plane: str
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = tuple(_GOOD.items())


@dataclass(frozen=True)
class Clock:
    """Move the scripted clock by ``delta_s``."""

    delta_s: float


@dataclass(frozen=True)
class SweptBack:
    """Wait (unrecorded) until the sweeper has given ``job`` back."""

    job: str


def _post(plane: str, path: str, body: bytes, headers: dict[str, str] = _GOOD) -> Send:
    return Send(plane, "POST", path, body, tuple({**headers, **_JSON}.items()))


NONE: tuple[tuple[str, str], ...] = ()
BAD = tuple(_BAD.items())
SCRIPT: list[Send | Clock | SweptBack] = [
    Send("control", "GET", "/health", headers=NONE),
    Send("data", "GET", "/health", headers=NONE),
    Send("control", "GET", "/nodes", headers=NONE),
    Send("control", "GET", "/nodes", headers=BAD),
    _post("control", "/nodes/register", b'{"node_id":"n1","name":"one","meta":{"rack":3}}'),
    _post("control", "/nodes/register", b'{"node_id":"n2"}'),
    _post("control", "/nodes/n1/heartbeat", b""),
    _post("control", "/nodes/ghost/heartbeat", b""),
    _post("control", "/jobs", b'{"kind":"x"}', {}),
    Send("control", "GET", "/nope"),
    Send("control", "PUT", "/nodes"),
    _post("control", "/nodes/register", b"{bad"),
    _post("control", "/nodes/register", b'{"node_id":"n3","extra":true}'),
    Send("control", "GET", "/nodes"),
    Clock(45),
    _post("control", "/nodes/n1/heartbeat", b""),
    Send("control", "GET", "/nodes"),
    Clock(100),
    Send("control", "GET", "/nodes"),
    Send("control", "DELETE", "/nodes/n2"),
    Send("control", "GET", "/nodes"),
    _post("data", "/jobs", b'{"kind":"a","payload":{"x":1}}'),
    _post("data", "/jobs", b'{"kind":"b","max_attempts":1}'),
    _post("data", "/jobs", b'{"kind":"c"}'),
    _post("data", "/nodes/register", b'{"node_id":"n1"}', {}),
    Send("data", "GET", "/nodes", headers=BAD),
    Send("data", "GET", f"/jobs/{J1}", headers=NONE),
    Send("data", "GET", f"/jobs/{J1}", headers=BAD),
    _post("data", "/jobs/claim", b'{"node_id":"n1","lease_s":10}'),
    _post("data", f"/jobs/{J1}/complete", b'{"node_id":"n1","result":{"ok":1}}'),
    _post("data", "/jobs/claim", b'{"node_id":"n1"}'),
    _post("data", f"/jobs/{J2}/fail", b'{"node_id":"n1","error":"no"}'),
    _post("data", "/jobs/claim", b'{"node_id":"n1","lease_s":5}'),
    _post("data", f"/jobs/{J3}/complete", b'{"node_id":"n9"}'),
    _post("data", f"/jobs/{J3}/fail", b'{"node_id":"n1","error":"retry me"}'),
    _post("data", "/jobs/claim", b'{"node_id":"n1","lease_s":5}'),
    Clock(10),
    SweptBack(J3),
    Send("data", "GET", f"/jobs/{J3}"),
    _post("data", f"/jobs/{J3}/complete", b'{"node_id":"n1"}'),
    _post("data", "/jobs/claim", b'{"node_id":"n1"}'),
    _post("data", f"/jobs/{J3}/fail", b'{"node_id":"n1","error":"last"}'),
    _post("data", "/jobs/claim", b'{"node_id":"n1"}'),
    Send("data", "GET", f"/jobs/{J1}"),
    Send("data", "GET", f"/jobs/{J2}"),
    Send("data", "GET", f"/jobs/{J3}"),
    Send("data", "GET", "/jobs/unknown"),
    _post("data", "/jobs", b"{bad"),
    _post("data", "/jobs", b'{"kind":5}'),
    Send("data", "GET", "/metrics/x"),
]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass
class Run:
    answers: list[Answer]
    metrics_statuses: set[int]
    audit: bytes
    database: list[str]


def _requeued(http: httpx.Client, hub: SecondHub, job: str) -> bool:
    answer = http.get(f"{hub.url('data')}/jobs/{job}", headers=_GOOD).json()
    return bool(answer["state"] == "queued")


def _run(hub: SecondHub, clock_file: Path) -> Run:
    now = T0
    set_clock(clock_file, now)
    hub.start()
    answers: list[Answer] = []
    scrapes: set[int] = set()
    with httpx.Client(timeout=10) as http:
        for step in SCRIPT:
            if isinstance(step, Clock):
                now += step.delta_s
                set_clock(clock_file, now)
            elif isinstance(step, SweptBack):
                assert wait_until(functools.partial(_requeued, http, hub, step.job)), step
            else:
                response = http.request(step.method, hub.url(step.plane) + step.path,
                                        content=step.body, headers=dict(step.headers))
                headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"date"]
                answers.append((response.status_code, headers, response.content))
            for plane in ("control", "data"):
                scrapes.add(http.get(hub.url(plane) + "/metrics").status_code)
    for plane in ("data", "control"):
        assert hub.stop(plane) == STOPPED
    with sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True) as db:
        dump = list(db.iterdump())
    return Run(answers, scrapes, hub.audit.read_bytes(), dump)


def test_answers_audit_lines_and_database_are_byte_identical_with_the_layer(
        make_hub: MakeHub, tmp_path: Path) -> None:
    bare = make_hub("bare", knobs=KNOBS, module="tests.secondhub.scripted",
                    extra_env={"SECONDHUB_TEST_CLOCK": str(tmp_path / "bare.clock")})
    without = _run(bare, tmp_path / "bare.clock")
    observed = make_hub("observed", observe=True, knobs=KNOBS, ports=dict(bare.ports),
                        module="tests.secondhub.scripted",
                        extra_env={"SECONDHUB_TEST_CLOCK": str(tmp_path / "observed.clock")})
    with_layer = _run(observed, tmp_path / "observed.clock")

    assert without.metrics_statuses == {404}
    assert with_layer.metrics_statuses == {200}
    assert len(without.answers) == len(with_layer.answers) == sum(
        isinstance(step, Send) for step in SCRIPT)
    sends = [step for step in SCRIPT if isinstance(step, Send)]
    for step, plain, layered in zip(sends, without.answers, with_layer.answers, strict=True):
        assert layered == plain, step
    # The script reached what it meant to: every status it was written for.
    statuses = sorted({status for status, _, _ in without.answers})
    assert statuses == [200, 201, 204, 400, 401, 404, 405, 409, 421, 422]
    assert without.audit.count(b'"type":"auth.fail"') == 4
    assert without.audit.count(b'"type":"wrong_port"') == 3
    assert without.audit.count(b"\n") == 7
    assert with_layer.audit == without.audit
    assert with_layer.database == without.database
