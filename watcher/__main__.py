"""Entry point: the only place that reads the environment (once) and the real argv."""

from __future__ import annotations

import os
import sys

from watcher._cli import DEFAULT_PROG
from watcher._cli import main as _cli_main


def main() -> int:
    """``python -m watcher`` and the installed ``sheratan-watcher`` command."""
    return _cli_main(sys.argv[1:], dict(os.environ), prog=program_name(sys.argv[0]))


def program_name(argv0: str) -> str:
    """The command as invoked, for ``--help``: ``sheratan-watcher`` for the installed command
    (argparse's rule: the base name of ``argv[0]``, here without ``.exe``), ``python -m
    watcher`` for the module (whose ``argv[0]`` is this file)."""
    name = os.path.basename(argv0)
    if not name or name.endswith(".py") or name == "-c":
        return DEFAULT_PROG
    return name.removesuffix(".exe")


if __name__ == "__main__":
    sys.exit(main())
