"""Golden replays: the rule engine gives, byte for byte, the alerts the engine before issue 12
gave on a small log (a dense scan with lines out of order, a third scan lines, and odd lines:
garbage, non-ASCII, far-future, odd clients and field types), with the default rules and with
nine rules (group_by client, path, reason, expected_port and method, client and plane;
threshold 0; ignored CIDRs; per-rule ignore lists; short repeats).

``golden/alerts_*.jsonl`` were written by that engine, with the wall clock below; in
``alerts_multi.jsonl`` since, the 17 alerts of the rule grouped by ``reason`` name the hub's
``invalid_token`` instead of ``[redacted]`` (with the ``alert_id`` that group gives), as the
watcher's guard now keeps the hub's own reasons: nothing else in the file changed.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from tests.watcher.conftest import T0_S
from watcher import Counters, Engine, RuleSet, default_rules, load_rules, replay

GOLDEN = Path(__file__).parent / "golden"
WALL_S = float(T0_S + 30 * 86_400)  # lines stamped beyond it plus 5 minutes are future


def _rules(name: str) -> RuleSet:
    return default_rules() if name == "default" else load_rules(GOLDEN / f"rules_{name}.json")


@pytest.mark.parametrize("name", ["default", "multi"])
def test_a_replay_gives_the_golden_alerts_byte_for_byte(tmp_path: Path, name: str) -> None:
    out = tmp_path / "alerts.jsonl"
    replay(_rules(name), GOLDEN / "audit.jsonl", out, wall_clock=lambda: WALL_S)
    assert out.read_bytes() == (GOLDEN / f"alerts_{name}.jsonl").read_bytes()


def test_the_golden_log_gives_the_same_alerts_when_restarted_anywhere() -> None:
    # The engine alone: a fresh one per part, restored from the last one's JSON snapshot.
    lines = (GOLDEN / "audit.jsonl").read_bytes().splitlines()
    golden = [orjson.loads(line)
              for line in (GOLDEN / "alerts_multi.jsonl").read_bytes().splitlines()]
    cuts = [0, 37, 150, 151, 222, 300, 401, len(lines)]
    alerts: list[dict[str, object]] = []
    snapshot: object = None
    for start, end in itertools.pairwise(cuts):
        engine = Engine(_rules("multi"), Counters(), wall_clock=lambda: WALL_S)
        if snapshot is not None:
            assert engine.restore(orjson.loads(orjson.dumps(snapshot))) == []
        engine.feed(lines[start:end])
        alerts += [alert.to_dict() for alert in engine.take_alerts()]
        snapshot = engine.snapshot()
    assert alerts == golden
