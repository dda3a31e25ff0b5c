"""What ``smoke_checks.py`` prints: the token and credentials redacted, terminal controls escaped.

A check's detail quotes what came from outside: the hub's answers (bodies, headers, error
texts), transport errors and paths. The hub under test may be anyone's, and what it sends
reaches the operator's terminal, so every such string goes through otel's redaction (the
token in every encoding and as a fragment, and the credential patterns) and then
:func:`otel.terminal_safe`: an answer cannot clear the screen, retitle the window, forge a
``PASS`` line or turn its text around.
"""

from __future__ import annotations

from otel import Redactor, terminal_safe

from .context import REDACTED


class SafeOutput:
    """Makes one string from outside safe to print.

    Args:
        token: The bearer token the checks send. A token too short for the redactor (under
            ``otel.MIN_SECRET_LEN`` characters, which would match ordinary words) is still
            replaced wherever it appears verbatim, as before.
    """

    def __init__(self, token: str) -> None:
        self._verbatim = ""
        try:
            self._redactor = Redactor([token], replacement=REDACTED)
        except ValueError:  # too short, or part of the marker itself: never shown, still cut
            self._verbatim = token.strip()
            self._redactor = Redactor(replacement=REDACTED)

    def __call__(self, text: str) -> str:
        """``text`` with the token and credentials redacted and its controls escaped."""
        if self._verbatim:
            text = text.replace(self._verbatim, REDACTED)
        return terminal_safe(self._redactor.redact_text(text)[0])

    def __repr__(self) -> str:  # never the token
        return "SafeOutput(<token>)"

