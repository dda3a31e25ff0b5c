"""A live terminal view of the Sheratan hub, for an operator without Grafana.

Usage, from the repository root::

    python scripts/hub_top.py [--control-url URL] [--data-url URL] [--home DIR]
        [--interval-s S] [--alerts N] [--once] [--token-file PATH ...] [--rules FILE]

It refreshes both planes' ``GET /metrics`` (no token needed), the watcher's
``state/watcher_status.json`` and the tail of ``logs/alerts.jsonl``, and shows stale or dead
nodes, failure rates above the limits of the watcher's active rules (``--rules``, else the
home's ``configs/alert_rules.json``, else the packaged ones), and firing alerts in colour,
with ↑/↓ against the previous refresh. A plane that cannot be read is one "hub unreachable"
line, never a traceback; a hub with ``OTEL_SDK_DISABLED=true`` (``/metrics`` answers 503,
reason ``disabled``) is shown up, with its metrics disabled. It says on stderr which home it
reads (``--home``, else ``SHERATAN_HOME``, else ``./.sheratan`` of the current folder), which
of its files it found, and which rules it used.

Nothing read is drawn as it came: the hub token (from ``HUB_TOKEN``,
``<home>/secrets/hub_token``, any ``--token-file``, or found by the hub's fingerprint in
``<home>/state/hub_token.fingerprint.json``), other known secrets and credential-like
values are redacted (when the token is none of these, it says so once on stderr and relies
on the credential patterns), and terminal controls (escape sequences, CR/LF, bidi overrides)
are shown as visible escapes. A symbolic link, FIFO or folder at the alerts or status path is
never followed or read; the frame says so.

Exit codes: 0 a frame was drawn (``--once``, also when the hub is unreachable: the frame
says so; use ``smoke_checks.py`` to gate on health) or Ctrl+C left the live view; 2 bad
usage (a bad argument, a ``--token-file`` that cannot be read, a ``--rules`` file the watcher
would refuse, or a home that does not exist or has no ``logs`` folder). An invalid
``configs/alert_rules.json`` in the home is shown in the frame instead (the packaged limits are
drawn meanwhile), and a frame is written whole also to a stream that cannot encode its
symbols (a Windows ``> frame.txt``): in ASCII, anything else unencodable as ``?``.

The logic lives in the installed package ``sheratan_ops.top`` (``sheratan_ops.top.render`` is
the pure rendering function), which also gives the ``sheratan-top`` command. This script
needs the package installed (``pip install .`` from the repository root) or the repository
root on ``PYTHONPATH``; it changes no import path itself.
"""

from __future__ import annotations

import sys

try:
    from sheratan_ops.top import main
except ModuleNotFoundError as missing:  # run by a python without the package: one line
    print(f"hub_top.py: this python ({sys.executable}) cannot import {missing.name}; "
          "install the package as the README says (python3 -m venv .venv && "
          ".venv/bin/pip install .) and run .venv/bin/python scripts/hub_top.py",
          file=sys.stderr)
    raise SystemExit(2) from None

if __name__ == "__main__":
    sys.exit(main())
