"""The smoke checks of ``scripts/smoke_checks.py``, one concern per module.

``context`` holds the HTTP context and result types, ``checks`` the stateless checks and
the runner, ``jobs`` the job round trip (the one check that must take care not to touch
other people's jobs), ``output`` what may be printed (the token and credentials redacted,
terminal controls escaped), and ``cli`` the arguments, the token and the output.
"""
