"""``python -m tests.secondhub.scripted {control|data}``: the hub with a clock the test sets.

The byte-identity test runs the same script twice and compares every answer byte for byte,
so time and task ids must not differ between the runs. This launcher runs the hub's own
``main`` with its two injectable sources replaced: the clock reads epoch seconds from the
file ``SECONDHUB_TEST_CLOCK`` (the test moves time by rewriting it), and task ids count up.
Nothing else changes; the layer, when switched on, keeps its own real clocks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .hub.__main__ import main


class FileClock:
    """Epoch seconds from a file the test replaces atomically."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __call__(self) -> float:
        return float(self._path.read_text(encoding="ascii"))


class CountingIds:
    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> str:
        self._last += 1
        return f"{self._last:032x}"


def set_clock(path: Path, epoch_s: float) -> None:
    """Move the scripted clock (atomically: a reader never sees half a number)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(repr(epoch_s), encoding="ascii")
    os.replace(scratch, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], clock=FileClock(Path(os.environ["SECONDHUB_TEST_CLOCK"])),
                  new_id=CountingIds()))
