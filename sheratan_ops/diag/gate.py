"""The final gate: no member of a bundle may hold a known secret value or a token pattern.

It runs on the bytes actually written to the zip (after every redaction layer), with
``otel.Redactor.find_leaks`` of the very redactor the layers used, so the gate looks for
exactly what redaction removes: a secret in a shape no pattern knows is still caught when its
value or fingerprint is known. It reports the member and the *kind* of leak, never the
secret. E-mail addresses are masked by the redactor but not gated (``find_leaks``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from otel import Redactor


@dataclass(frozen=True, slots=True)
class Leak:
    """A member that holds a secret, and the kinds found (never the values)."""

    member: str
    kinds: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.member}: {', '.join(self.kinds)}"


class LeakGate:
    """Scans member bytes.

    Args:
        redactor: the run's redactor (``KnownSecrets.redactor()``), known values,
            fingerprints and patterns included.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor

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
