"""The smoke checks of ``sheratan-smoke`` (``scripts/smoke_checks.py``), one concern per module.

``context`` holds the HTTP context and result types, ``checks`` the stateless checks and
the runner, ``jobs`` the job round trip (the one check that must take care not to touch
other people's jobs), ``output`` what may be printed (the token and credentials redacted,
terminal controls escaped), and ``cli`` the arguments, the token and the output.
"""

from __future__ import annotations

from .checks import all_checks, run_checks
from .cli import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, Token, main, resolve_token
from .context import CheckResult, SmokeContext, UsageError
from .jobs import check_job_roundtrip
from .output import SafeOutput

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
