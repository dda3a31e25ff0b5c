"""Smoke checks for a running Sheratan hub (CONTRACT section 2): a thin entry point.

Usage, from the repository root::

    python scripts/smoke_checks.py [--control-url http://127.0.0.1:8787] \
        [--data-url http://127.0.0.1:8788] [--token TOKEN] [--home DIR] [--timeout-s N] \
        [--skip-jobs]

Without ``--control-url`` and ``--data-url`` it checks the planes where the hub binds them:
``HUB_HOST``, ``HUB_CONTROL_PORT`` and ``HUB_DATA_PORT``, read as the hub reads them (as
diagnose and hub_top do; a value the hub would refuse warns and falls back to the default).
On stderr it says which URLs it checks (a URL with a port outside 1..65535 is bad usage).

It first prints where the token came from (``token: from --token``, ``from HUB_TOKEN`` or
``from <path>``, never the token), then one line per check, ``PASS <name>``,
``FAIL <name>: <why>`` or ``SKIP <name>: <why>``, then a summary line. A hub with
``OTEL_SDK_DISABLED=true`` answers ``/metrics`` with 503 and reason ``disabled``: the
``metrics_*`` checks then SKIP with that reason; any other 503 is a FAIL. It exits 0 when no
check failed, 1 when one did, and 2 for bad usage (a bad argument, or no token to be found).

The token comes from ``--token``, else ``HUB_TOKEN``, else ``<home>/secrets/hub_token`` with
home from ``--home``, else ``SHERATAN_HOME``, else ``./.sheratan``. It is never printed: every
message is redacted (the token in any encoding or as a fragment, and credential patterns),
and one check asserts that no response the hub sent contained it. Every string that came
from the hub or a file is printed with its terminal controls (escape sequences, CR/LF, bidi
overrides) shown as visible escapes such as ``\x1b``, so an answer cannot rewrite the screen
or forge a ``PASS`` line.

This script is a plain HTTP client of the v1.5 API; it does not import the hub (only otel's
redaction), so it checks any hub that keeps the contract, the user's production hub included.

What the checks change on the hub, and why that is the least invasive honest choice:

* The 401 and 421 checks write two ``AUTH_FAILURE`` (reason ``missing_token``) and two
  ``PORT_MISMATCH`` audit lines, from the loopback client that the default watcher rules
  ignore. The 421 requests carry no token, which also checks that port isolation comes
  before auth.
* The node round trip registers a node with a unique id (``smoke-<random>``), heartbeats it,
  and always deletes it again, even when a step fails.
* The job round trip runs only when the data plane's ``/metrics`` shows no job queued and
  none in flight; otherwise, or when ``/metrics`` cannot tell, it reports SKIP and claims
  nothing. It then submits its own ``smoke_check`` job (``max_attempts`` 1) and claims it
  with a 10 s lease. The residual race, and why a foreign job claimed in it is left leased
  rather than failed back, is described in ``sheratan_ops/smoke/jobs.py``.

The logic lives in the installed package ``sheratan_ops.smoke`` (one concern per module;
``sheratan_ops.smoke.cli`` is the entry), which also gives the ``sheratan-smoke`` command.
This script needs the package installed (``pip install .`` from the repository root) or the
repository root on ``PYTHONPATH``; it changes no import path itself.
"""

from __future__ import annotations

import sys

# Re-exported for programmatic use (the tests drive single checks through them).
try:
    from sheratan_ops.smoke import (
        EXIT_CHECK_FAILED,
        EXIT_OK,
        EXIT_USAGE,
        CheckResult,
        SafeOutput,
        SmokeContext,
        Token,
        UsageError,
        all_checks,
        check_job_roundtrip,
        main,
        resolve_token,
        run_checks,
    )
except ModuleNotFoundError as missing:  # run by a python without the package: one line
    print(f"smoke_checks.py: this python ({sys.executable}) cannot import {missing.name}; "
          "install the package as the README says (python3 -m venv .venv && "
          ".venv/bin/pip install .) and run .venv/bin/python scripts/smoke_checks.py",
          file=sys.stderr)
    raise SystemExit(2) from None

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CheckResult",
    "SafeOutput",
    "SmokeContext",
    "Token",
    "UsageError",
    "all_checks",
    "check_job_roundtrip",
    "main",
    "resolve_token",
    "run_checks",
]

if __name__ == "__main__":
    sys.exit(main())
