"""The final gate: no member of a bundle may hold a known secret value or a token pattern.

It runs on the bytes actually written to the zip (after every redaction layer), with
``otel.Redactor.find_leaks``, so a secret in a shape no pattern knows is still caught when
its value is known. It reports the member and the *kind* of leak, never the secret.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from otel import Redactor

from .redact import KnownSecrets


@dataclass(frozen=True, slots=True)
class Leak:
    member: str
    kinds: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.member}: {', '.join(self.kinds)}"


class LeakGate:
    """Scans member bytes.

    Args:
        secrets: the exact values to look for (with their URL- and JSON-escaped forms).
    """

    def __init__(self, secrets: KnownSecrets) -> None:
        self._redactor = Redactor(secrets.values)

    def scan(self, members: Iterable[tuple[str, bytes]]) -> list[Leak]:
        """The leaks found, one per member that has any, in member order."""
        leaks = []
        for name, data in members:
            kinds = self._redactor.find_leaks(name.encode("utf-8") + b"\n" + data)
            if kinds:
                leaks.append(Leak(name, tuple(kinds)))
        return leaks

    def scan_zip(self, path: Path) -> list[Leak]:
        """Scan every member of the zip at ``path``, read back from disk.

        Raises:
            zipfile.BadZipFile: ``path`` is not a readable zip.
        """
        with zipfile.ZipFile(path) as archive:
            return self.scan((info.filename, archive.read(info))
                             for info in archive.infolist())
