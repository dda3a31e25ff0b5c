"""terminal_safe: nothing a client wrote can drive the operator's terminal."""

from __future__ import annotations

import json

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from otel import terminal_safe, terminal_safe_json

_RAW_CONTROLS = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}
_BIDI = set("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_escape_sequences_are_shown_not_executed() -> None:
    crafted = "a\x1b[2Jb\x1b]0;pwned\x07c\rd\ne\x9bf\u202eg\x00h\x7fi"
    assert terminal_safe(crafted) == (
        "a\\x1b[2Jb\\x1b]0;pwned\\x07c\\x0dd\\x0ae\\x9bf\\u202eg\\x00h\\x7fi")


def test_printable_text_of_any_script_is_left_alone() -> None:
    text = "Grüße, 東京, émoji 🚀, tab-free 'quotes' \\ and [rich] markup"
    assert terminal_safe(text) == text


def test_a_lone_surrogate_is_escaped() -> None:
    assert terminal_safe("a\ud800b") == "a\\ud800b"


@given(st.text())
def test_no_control_or_bidi_character_survives(text: str) -> None:
    out = terminal_safe(text)
    assert not (set(out) & (_RAW_CONTROLS | _BIDI))
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)


def test_json_keeps_its_values_and_lines_but_no_c1_or_bidi_character() -> None:
    values = [{"path": "/jobs/\x1b[41mx\u202e\x9b31m\x7f", "n": 1}, {"path": "Grüße 🚀"}]
    data = msgspec.json.Encoder().encode_lines(values)
    safe = terminal_safe_json(data)
    assert safe.count(b"\n") == 2
    assert [json.loads(line) for line in safe.splitlines()] == values
    assert b"\\u009b" in safe and b"\\u202e" in safe and b"\\u007f" in safe
    assert "Grüße 🚀".encode() in safe


def test_ascii_json_is_returned_as_it_is() -> None:
    data = b'{"a":"b"}\n{"c":1}\n'
    assert terminal_safe_json(data) is data


@given(st.lists(st.text(), max_size=4))
def test_no_control_or_bidi_character_survives_in_json(texts: list[str]) -> None:
    texts = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    data = msgspec.json.Encoder().encode_lines(texts)
    safe = terminal_safe_json(data).decode()
    assert not (set(safe) & ((_RAW_CONTROLS - {"\n"}) | _BIDI))
    assert [json.loads(line) for line in safe.splitlines()] == texts

