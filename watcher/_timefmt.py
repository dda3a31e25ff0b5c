"""Audit timestamps as integer microseconds since the epoch (exact arithmetic, no float drift)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MAX_TEXT = 64
_MAX_BASES = 4096
US_PER_S = 1_000_000


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

    Consecutive audit lines share their whole-second prefix, so the parser caches the last one
    and only converts the fraction on the fast path. Not thread-safe: one parser per reader.
    """

    __slots__ = ("bases",)

    def __init__(self) -> None:
        #: whole-second prefix ("2026-11-29T10:15:02") -> its microseconds since the epoch.
        #: Public so a hot loop may consult it inline before calling :meth:`parse`.
        self.bases: dict[str, int] = {}

    def parse(self, text: str) -> int | None:
        """Returns microseconds since the epoch, or None when ``text`` is not a timestamp."""
        if len(text) >= 21 and text[19] == "." and text[-1] == "Z":
            frac = text[20:-1]
            if len(frac) <= 9 and frac.isascii() and frac.isdigit():
                prefix = text[:19]
                base = self.bases.get(prefix)
                if base is None:
                    base = _parse_slow(prefix + "Z")
                    if base is None:
                        return None
                    if len(self.bases) >= _MAX_BASES:
                        self.bases.clear()
                    self.bases[prefix] = base
                return base + int((frac + "00000")[:6])
        return _parse_slow(text)


def format_us(epoch_us: int) -> str:
    """Formats microseconds since the epoch the way the hub writes them (UTC, ``Z``)."""
    return (_EPOCH + timedelta(microseconds=epoch_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
