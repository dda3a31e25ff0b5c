"""Entry point: the only place that reads the environment (once) and the real argv."""

from __future__ import annotations

import os
import sys

from watcher._cli import main as _cli_main


def main() -> int:
    """``python -m watcher`` and the installed ``sheratan-watcher`` command."""
    return _cli_main(sys.argv[1:], dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
