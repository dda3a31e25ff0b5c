"""Audit timestamps as integer microseconds since the epoch (exact arithmetic, no float drift)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MAX_TEXT = 64
_MAX_CACHED = 4096
US_PER_S = 1_000_000

#: The hub's format, ``2026-11-29T10:15:02.123456Z``: the minute, "SS.", the fraction, Z.
_MINUTE_LEN = 17
#: "SS." -> its microseconds. A lookup here checks the two digits and their range at once.
SECONDS: dict[str, int] = {f"{s:02d}.": s * US_PER_S for s in range(60)}
#: Only minute prefixes of exactly this shape are cached: then any valid "SS.ffffffZ" after
#: one means what the general parser would make of the whole string.
_MINUTE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:", re.ASCII)


def _parse_slow(text: str) -> int | None:
    if len(text) > _MAX_TEXT:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_US


class TimestampParser:
    """Parses the hub's ``2026-11-29T10:15:02.123456Z`` timestamps, and any ISO 8601 form.

    Audit lines of one minute share their ``YYYY-MM-DDTHH:MM:`` prefix, so the parser caches
    the minute and adds the seconds and fraction arithmetically; on a sparse log (lines seconds
    apart) a per-second cache would miss on most lines. Not thread-safe: one parser per reader.
    """

    __slots__ = ("minutes",)

    def __init__(self) -> None:
        #: minute prefix ("2026-11-29T10:15:") -> its microseconds since the epoch, each one
        #: checked by the general parser. Public so a hot loop may consult it inline, with
        #: :data:`SECONDS`, before calling :meth:`parse`.
        self.minutes: dict[str, int] = {}

    def parse(self, text: str) -> int | None:
        """Returns microseconds since the epoch, or None when ``text`` is not a timestamp."""
        # The hub's shape with a fraction of 1 to 9 digits: a strictly checked minute, then
        # "SS." from the table. Anything else is the general parser's to judge.
        if 21 <= len(text) <= 30 and text[-1] == "Z" and text.isascii() and \
                (frac := text[20:-1]).isdigit() and \
                (second := SECONDS.get(text[17:20])) is not None:
            minute = self._minute(text[:_MINUTE_LEN])
            if minute is not None:
                return minute + second + int((frac + "00000")[:6])
        return _parse_slow(text)

    def _minute(self, prefix: str) -> int | None:
        minute = self.minutes.get(prefix)
        if minute is None and _MINUTE_RE.fullmatch(prefix):
            minute = _parse_slow(prefix + "00Z")
            if minute is not None:
                if len(self.minutes) >= _MAX_CACHED:
                    self.minutes.clear()
                self.minutes[prefix] = minute
        return minute


def format_us(epoch_us: int) -> str:
    """Formats microseconds since the epoch the way the hub writes them (UTC, ``Z``)."""
    return (_EPOCH + timedelta(microseconds=epoch_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
