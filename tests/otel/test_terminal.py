"""terminal_safe: nothing a client wrote can drive the operator's terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from otel import terminal_safe

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
