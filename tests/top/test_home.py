"""hub_top names the home it reads, refuses one that is not there, and draws the rate limits
of the watcher's active rules."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel import terminal_safe
from sheratan_ops.top.cli import main
from sheratan_ops.top.limits import (
    active_rate_limits,
    packaged_rate_limits,
    rate_limits,
    view_rate_limits,
)
from sheratan_ops.top.render import problems, render
from watcher import RulesError, parse_rules

from .conftest import CALM_CONTROL, draw, snap


@pytest.fixture
def closed_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _top(argv: list[str], env: dict[str, str], url: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--once", "--control-url", url, "--data-url", url, *argv], environ=env,
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _rules(auth: int, mismatch_window_s: int = 60) -> dict[str, object]:
    return {"rules": [
        {"name": "a", "event": "AUTH_FAILURE", "threshold": auth, "window_s": 60,
         "severity": "warning"},
        {"name": "b", "event": "AUTH_FAILURE", "threshold": auth + 5, "window_s": 60,
         "severity": "warning"},
        {"name": "p", "event": "PORT_MISMATCH", "threshold": 1, "window_s": mismatch_window_s,
         "severity": "warning"},
    ]}


@pytest.mark.parametrize("how", ["missing", "no logs"])
def test_a_home_that_is_not_there_exits_2_and_says_so(tmp_path: Path, closed_url: str,
                                                      how: str) -> None:
    home = tmp_path / "home"
    if how == "no logs":
        home.mkdir()
    code, out, err = _top([], {"SHERATAN_HOME": str(home)}, closed_url)
    assert code == 2 and out == ""
    expected = "does not exist" if how == "missing" else "has no logs folder"
    assert err.startswith(f"hub_top: error: the home {home} {expected} (from SHERATAN_HOME)")
    assert "Traceback" not in err


def test_the_home_its_files_and_the_rules_are_said_on_stderr(tmp_path: Path,
                                                             closed_url: str) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "alerts.jsonl").write_text("")
    code, out, err = _top(["--home", str(home)], {}, closed_url)
    assert code == 0 and "HUB UNREACHABLE" in out
    assert err.splitlines() == [
        f"hub_top: home: {home} (from --home)",
        "  found: logs/alerts.jsonl",
        "  missing: state/watcher_status.json, state/watcher_supervisor.json",
        "  rules: packaged defaults",
        f"{_UNKNOWN} (no HUB_TOKEN, --token-file, {home / 'secrets' / 'hub_token'} or "
        f"{home / 'state' / 'hub_token.fingerprint.json'}): what is shown is redacted by the "
        "credential patterns only",
    ]


def test_the_limits_come_from_the_homes_rules_file(tmp_path: Path, closed_url: str) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "configs").mkdir()
    rules = home / "configs" / "alert_rules.json"
    rules.write_text(json.dumps(_rules(auth=3)))
    assert active_rate_limits(None, home) == (
        {"auth_fail_rate_1m": 3, "port_mismatch_rate_1m": 1}, str(rules))
    code, _, err = _top(["--home", str(home)], {}, closed_url)
    assert code == 0 and f"  rules: {rules}" in err


def test_a_bad_rules_file_exits_2_like_the_watcher_would(tmp_path: Path,
                                                        closed_url: str) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    bad = tmp_path / "rules.json"
    bad.write_text('{"rules": [{"name": "x"}]}')
    code, _, err = _top(["--home", str(home), "--rules", str(bad)], {}, closed_url)
    assert code == 2 and err.startswith("hub_top: error: invalid rules: ")
    with pytest.raises(RulesError):
        active_rate_limits(bad, home)


def test_an_invalid_home_rules_file_is_shown_in_the_frame_with_the_packaged_limits(
        tmp_path: Path, closed_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the hub's --watcher shows as "refused": hub_top still runs, and says why.
    monkeypatch.setenv("COLUMNS", "400")  # the problem on one line, to read it whole
    home = tmp_path / "home\x1b[2J"  # drawn escaped, never cleared the screen with
    (home / "logs").mkdir(parents=True)
    (home / "configs").mkdir()
    rules = home / "configs" / "alert_rules.json"
    rules.write_text('{"rules": [{"name": "x"}]}')
    code, out, err = _top(["--home", str(home)], {}, closed_url)
    assert code == 0 and "\x1b" not in out and "Traceback" not in err
    safe = terminal_safe(str(rules))
    line = f"rules {safe} invalid (rules[0].event: is required); limits: packaged defaults"
    assert f"│ {line} " in out and "rules invalid" in out.splitlines()[1]
    assert f"  rules: packaged defaults ({safe} is invalid)" in err.splitlines()
    assert f"hub_top: warning: {line}" in err.splitlines()
    limits, _, problem = view_rate_limits(None, home)
    assert limits == packaged_rate_limits() and problem is not None and str(rules) in problem
    assert view_rate_limits(None, tmp_path)[2] is None  # no home rules: nothing wrong


def test_the_rules_problem_is_drawn_under_the_limited_rates() -> None:
    problem = "rules h/configs/alert_rules.json invalid (x: is required); limits: packaged defaults"
    frame = draw(render(dataclasses.replace(snap(), rules_problem=problem)), width=120)
    lines = frame.splitlines()
    assert lines[0].startswith(" ATTENTION ") and "rules invalid" in lines[1]
    control = lines.index(next(ln for ln in lines if "control plane" in ln))
    data = lines.index(next(ln for ln in lines if "data plane" in ln))
    # Stacked (the line has the width), inside the control panel, below its limits.
    assert control < data and "data plane" not in lines[control]
    below = lines[control:data]
    assert any("limit 10" in ln for ln in below) and f"│ {problem}" in "\n".join(below)
    assert "rules invalid" not in draw(render(snap()), width=120)


def test_only_rules_with_the_rates_window_give_a_limit() -> None:
    limits = rate_limits(parse_rules(_rules(auth=7, mismatch_window_s=300)))
    assert dict(limits) == {"auth_fail_rate_1m": 7}
    assert dict(packaged_rate_limits()) == {"auth_fail_rate_1m": 10,
                                            "port_mismatch_rate_1m": 5}


def test_the_drawn_limits_are_the_snapshots() -> None:
    busy = snap({**CALM_CONTROL, "auth_fail_rate_1m": 4, "port_mismatch_rate_1m": 9})
    assert [text for text, _ in problems(busy)] == ["port_mismatch_rate_1m > 5"]
    tight = dataclasses.replace(busy, rate_limits={"auth_fail_rate_1m": 3})
    assert [text for text, _ in problems(tight)] == ["auth_fail_rate_1m > 3"]


_UNKNOWN = "hub_top: warning: the hub token is unknown here"


def test_a_home_without_token_or_fingerprint_says_the_token_is_unknown_once(
        tmp_path: Path, closed_url: str) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "hub_security_audit.jsonl").write_text("", encoding="utf-8")
    code, _, err = _top(["--home", str(tmp_path)], {}, closed_url)
    assert code == 0 and err.count(_UNKNOWN) == 1
    line = next(line for line in err.splitlines() if line.startswith(_UNKNOWN))
    assert str(tmp_path / "secrets" / "hub_token") in line
    assert "credential patterns only" in line


def test_a_known_token_gives_no_such_warning(tmp_path: Path, closed_url: str) -> None:
    (tmp_path / "logs").mkdir()
    code, _, err = _top(["--home", str(tmp_path)], {"HUB_TOKEN": "t0ken-0123456789abcdef"},
                        closed_url)
    assert code == 0 and _UNKNOWN not in err
