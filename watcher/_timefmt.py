"""Event time: ``timedelta`` since the epoch inside the engine, integer microseconds outside.

Decoding a line gives an aware ``datetime``; subtracting :data:`EPOCH` from it is cheap and
exact, and timedeltas compare as fast as ints, so the engine keeps event time as such a
``timedelta``. Turning one into an int (``// ONE_US``) costs several times more, so that is
done only where time leaves the engine: alerts, the checkpoint, the clock it reports.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # formats without "+00:00"
#: The first and last engine times a datetime can hold, so that an alert can print them.
MIN_TIME = datetime.min.replace(tzinfo=UTC) - EPOCH
MAX_TIME = datetime.max.replace(tzinfo=UTC) - EPOCH
ONE_US = timedelta(microseconds=1)
US_PER_S = 1_000_000


def to_us(moment: timedelta) -> int:
    """Microseconds since the epoch of an engine time (exact)."""
    return moment // ONE_US


def from_us(epoch_us: int) -> timedelta:
    """The engine time of ``epoch_us`` microseconds since the epoch (exact)."""
    return epoch_us * ONE_US  # exact, and faster than timedelta(microseconds=...)


@functools.lru_cache(maxsize=1024)
def format_us(epoch_us: int) -> str:
    """Formats microseconds since the epoch the way the hub writes them (UTC, ``Z``).

    Cached: an episode's alerts repeat its first and last seen times, and formatting costs
    about a microsecond.
    """
    # isoformat: several times faster than strftime, and the year always has four digits.
    # Without timespec it is faster still, but leaves out a fraction of zero.
    text = (_NAIVE_EPOCH + epoch_us * ONE_US).isoformat()
    return text + ".000000Z" if len(text) == 19 else text + "Z"
