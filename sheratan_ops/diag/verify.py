"""``--verify``: re-check a bundle before it is sent anywhere.

Every member listed in the manifest must be present with its sha256 and size, nothing may
be present that the manifest does not list, and the leak gate must pass on every member.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .bundle import MANIFEST, sha256_hex
from .gate import Leak, LeakGate

#: No member of a real bundle comes near this (log tails stop at 4 MiB): a larger one is
#: refused unread, so a crafted zip cannot make --verify inflate gigabytes into memory.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


@dataclass(slots=True)
class Verdict:
    """What ``--verify`` found: integrity problems and leaks (kinds only)."""

    problems: list[str] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    members: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.leaks


class NotAZipFile(ValueError):
    """The file given is no zip at all: a wrong argument, not a tampered bundle."""


def verify_bundle(path: Path, gate: LeakGate) -> Verdict:
    """Check ``path``'s integrity against its manifest, and scan it for secrets.

    Raises:
        FileNotFoundError: there is no such file.
        NotAZipFile: the file is not a zip file.
    """
    verdict = Verdict()
    contents = _read_members(path, verdict)
    if contents is None:
        return verdict
    verdict.members = len(contents)
    verdict.leaks = gate.scan(sorted(contents.items()))
    listed = _manifest_members(contents.get(MANIFEST), verdict)
    if listed is not None:
        _compare(contents, listed, verdict)
    return verdict


def _read_members(path: Path, verdict: Verdict) -> dict[str, bytes] | None:
    """Every member small enough to be a bundle's, or None when the zip is unusable."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise NotAZipFile(f"{path} is not a zip file, so not a diagnose bundle") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        for name, n in sorted(Counter(names).items()):
            if n > 1:
                verdict.problems.append(f"{name}: present {n} times")
        # Sizes come from the zip's directory; zipfile never inflates past them.
        readable = [info for info in infos if info.file_size <= MAX_MEMBER_BYTES]
        for info in infos:
            if info.file_size > MAX_MEMBER_BYTES:
                verdict.problems.append(f"{info.filename}: {info.file_size} bytes, larger than "
                                        f"any bundle member can be; not read")
        if sum(info.file_size for info in readable) > MAX_BUNDLE_BYTES:
            verdict.problems.append("the members add up to more than any bundle can hold; "
                                    "not read")
            return None
        try:
            return {info.filename: archive.read(info) for info in readable}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            # A CRC mismatch lands here: the zip itself was altered.
            verdict.problems.append(f"unreadable member ({type(exc).__name__})")
            return None


def _compare(contents: dict[str, bytes], listed: dict[str, tuple[str, int]],
             verdict: Verdict) -> None:
    for name in sorted(set(contents) - set(listed) - {MANIFEST}):
        verdict.problems.append(f"{name}: not listed in the manifest")
    for name, (sha256, size) in sorted(listed.items()):
        data = contents.get(name)
        if data is None:
            verdict.problems.append(f"{name}: listed in the manifest but missing")
        elif len(data) != size or sha256_hex(data) != sha256:
            verdict.problems.append(f"{name}: content does not match the manifest (sha256/size)")


def _manifest_members(raw: bytes | None, verdict: Verdict) -> dict[str, tuple[str, int]] | None:
    if raw is None:
        verdict.problems.append(f"{MANIFEST}: missing")
        return None
    try:
        manifest = json.loads(raw)
        entries = manifest["members"]
        return {str(e["name"]): (str(e["sha256"]), int(e["size"])) for e in entries}
    except (ValueError, KeyError, TypeError):
        verdict.problems.append(f"{MANIFEST}: not a valid manifest")
        return None
