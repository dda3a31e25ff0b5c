"""``python -m sheratan_ops.top``: the ``sheratan-top`` command, for an interpreter whose
folder has no console script (the hub's banner names it so)."""

from __future__ import annotations

import sys

from sheratan_ops.top import main

if __name__ == "__main__":
    sys.exit(main())
