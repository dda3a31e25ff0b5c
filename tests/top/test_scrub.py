"""Making a snapshot safe to show: every string redacted, then its terminal controls escaped."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterable, Iterator

import pytest

from otel import REDACTED, Redactor, TokenFingerprint
from sheratan_ops.top.model import (
    AlertRow,
    AlertsTail,
    AlertState,
    PlaneReading,
    Snapshot,
    WatcherStatus,
)
from sheratan_ops.top.render import render
from sheratan_ops.top.scrub import Scrubber
from tests.top.conftest import NOW, console, draw, scrubber

TOKEN = "Q3vX9pLm2RtY7wZa4KcN8bE1uHs5dJf0"
TOKEN_B64 = base64.b64encode(TOKEN.encode()).decode()
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
#: What a terminal must never be sent from outside: ESC (CSI, OSC), BEL, CR, LF, a C1 CSI
#: and a right-to-left override.
POISON = "p\x1b[2Jq\x1b]0;pwned\x07r\x9b31ms\rt\nFORGED u\u202ev"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _strings(obj: object) -> Iterator[str]:
    """Every string inside a snapshot: dataclass fields, mappings (keys too) and tuples."""
    if isinstance(obj, str):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for item in dataclasses.fields(obj):
            yield from _strings(getattr(obj, item.name))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _strings(item)


def _poisoned_snapshot(poison: str) -> Snapshot:
    """A snapshot with ``poison`` in every string field there is."""
    row = AlertRow(ts=poison, alert_id=poison, rule=poison, state=AlertState.FIRING,
                   severity=poison, count=11, threshold=10, window_s=60,
                   group={poison: poison}, still_firing=True)
    return Snapshot(
        NOW,
        PlaneReading("control", poison, values={"nodes_online": 1}, generated_at=poison),
        PlaneReading("data", "http://h:8788", error=poison),
        AlertsTail(poison, rows=(row,), firing=1, error=None),
        WatcherStatus(poison, fields={"state": poison, "pid": 7}, error=poison),
    )


def test_every_string_in_a_snapshot_is_made_safe() -> None:
    raw = _poisoned_snapshot(POISON)
    assert any(_UNSAFE.search(text) for text in _strings(raw))  # the test can fail
    safe = scrubber().snapshot(raw)
    strings = list(_strings(safe))
    assert len(strings) == len(list(_strings(raw)))
    for text in strings:
        assert not _UNSAFE.search(text), text
    assert safe.alerts.rows[0].rule == (
        "p\\x1b[2Jq\\x1b]0;pwned\\x07r\\x9b31ms\\x0dt\\x0aFORGED u\\u202ev")
    assert safe.watcher.fields["pid"] == 7 and safe.control.values == {"nodes_online": 1}


def test_an_alert_error_and_path_are_scrubbed_too() -> None:
    raw = AlertsTail(f"/home/{TOKEN}/alerts.jsonl", error=f"bad\x1b[2J {TOKEN}")
    safe = scrubber(TOKEN).alerts(raw)
    assert safe.path == f"/home/{REDACTED}/alerts.jsonl"
    assert safe.error == f"bad\\x1b[2J {REDACTED}"


def _alerts(rows: Iterable[tuple[str, dict[str, str]]]) -> AlertsTail:
    made = tuple(AlertRow(ts="2026-11-29T10:14:00Z", alert_id=f"id{i}", rule=rule,
                          state=AlertState.FIRING, severity="warning", count=11,
                          threshold=10, window_s=60, group=group, still_firing=True)
                 for i, (rule, group) in enumerate(rows))
    return AlertsTail("a.jsonl", rows=made, firing=len(made))


SECRET_ROWS = [
    (f"tok-{TOKEN}", {"client": TOKEN}),
    (f"b64-{TOKEN_B64}", {"client": TOKEN_B64}),
    (f"gh-{GITHUB_TOKEN}", {"client": GITHUB_TOKEN}),
]


def _frame_text(scrub: Scrubber | None, width: int = 220) -> str:
    snap = Snapshot(NOW, PlaneReading("control", "http://h:8787", error="hub unreachable: x"),
                    PlaneReading("data", "http://h:8788", error="hub unreachable: x"),
                    _alerts(SECRET_ROWS), WatcherStatus("w.json", missing=True))
    return draw(render(snap if scrub is None else scrub.snapshot(snap)), width=width)


def test_the_token_its_base64_and_a_github_token_are_never_drawn() -> None:
    unscrubbed = _frame_text(None)
    for secret in (TOKEN, TOKEN_B64, GITHUB_TOKEN):
        assert secret in unscrubbed  # the frame has room to show them: the test can fail
    text = _frame_text(scrubber(TOKEN))
    for secret in (TOKEN, TOKEN_B64, GITHUB_TOKEN, TOKEN[:16], TOKEN[-16:]):
        assert secret not in text
    assert "tok-[REDACTED]" in text and "gh-[REDACTED]" in text
    assert text.count(f"client={REDACTED}") == 3  # a credential-like value goes whole


def test_a_token_known_only_by_its_fingerprint_is_never_drawn() -> None:
    fingerprint = TokenFingerprint.of(TOKEN)
    text = _frame_text(scrubber(fingerprints=(fingerprint,)))
    for secret in (TOKEN, TOKEN_B64, GITHUB_TOKEN):
        assert secret not in text
    assert "tok-[REDACTED]" in text


def test_group_values_that_are_addresses_are_shown_canonical() -> None:
    safe = scrubber().alerts(_alerts([("r", {"client": "::FFFF:0A00:0007",
                                             "node": "edge-7"})]))
    assert safe.rows[0].group == {"client": "::ffff:a00:7", "node": "edge-7"}


def test_markup_in_a_string_is_drawn_as_written() -> None:
    rule = "[bold red]boom[/] [link=http://evil.example]click[/link]"
    safe = scrubber().alerts(_alerts([(rule, {"client": "[blink]x[/blink]"})]))
    out = console(200, color=True)
    out.print(render(Snapshot(NOW, PlaneReading("control", "http://h:8787", values={}),
                              PlaneReading("data", "http://h:8788", values={}), safe,
                              WatcherStatus("w.json", missing=True))))
    text = out.export_text()
    assert rule in text and "client=[blink]x[/blink]" in text
    assert "\x1b]8;" not in out.export_text(styles=True)  # no hyperlink was made


class _CountingRedactor(Redactor):
    """The real redactor, counting the texts it is asked to judge."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__(known)
        self.calls = 0

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        self.calls += 1
        return super().redact_text(text)


def test_each_distinct_string_is_judged_once_across_refreshes() -> None:
    redactor = _CountingRedactor([TOKEN])
    scrub = Scrubber(redactor)
    snap = _poisoned_snapshot(f"x {TOKEN}")
    first = scrub.snapshot(snap)
    calls = redactor.calls
    assert calls > 0
    assert scrub.snapshot(snap) == first
    assert redactor.calls == calls  # the second refresh cost no redaction at all


def test_a_cache_size_below_one_is_a_programmer_error() -> None:
    with pytest.raises(ValueError, match="cache_size must be >= 1, got 0"):
        Scrubber(Redactor(), cache_size=0)
