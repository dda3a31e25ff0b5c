"""Writing the bundle: canonical members, the manifest, and a reproducible, atomic zip.

Reproducibility rules (two runs with the same ``SOURCE_DATE_EPOCH`` and inputs give the
same bytes):

* members sorted by name, the manifest first-class among them;
* every entry's ``date_time`` is the run's timestamp in UTC (clamped to 1980, the zip
  format's epoch), ``create_system`` Unix, permissions ``0644`` regular file;
* ``ZIP_DEFLATED`` at level 9 (pinned: the default level may differ between builds);
* JSON is canonical: sorted keys, two-space indent, UTF-8, LF, a final newline;
* volatile values (collector durations) are ``null`` when ``SOURCE_DATE_EPOCH`` is set.

Atomicity: the zip is written to ``.diag_bundle_*.tmp`` in the output folder
(:func:`otel.staged_file`) and published under its final name only after the leak gate
passed on what was written; a crash leaves at most a temp file, never a half-written bundle
under the final name.

No collision, no overwrite: the final name is taken with ``os.link`` (which fails when the
name exists), so two runs in the same second, or with the same ``SOURCE_DATE_EPOCH``, in one
folder give ``diag_bundle_<ts>.zip`` and ``diag_bundle_<ts>_1.zip``, and an existing file is
never replaced. Where hard links are not supported, the name is reserved with ``O_EXCL``
and the temp file renamed over that reservation.

Owner-only: the bundle is ``0600`` (``mkstemp``) and every folder diagnose creates for it is
``0700``, whatever the umask.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from otel import staged_file

from .gate import Leak, LeakGate

MANIFEST = "manifest.json"
COMPRESSION = zipfile.ZIP_DEFLATED
COMPRESS_LEVEL = 9
FILE_MODE = 0o100644  # regular file, rw-r--r--
_ZIP_MIN_DATE = (1980, 1, 1, 0, 0, 0)
_UNIX = 3
#: ``_1`` .. ``_999``: beyond that, something other than diagnose is filling the folder.
MAX_NAME_SUFFIX = 999


class LeakFound(Exception):
    """The gate found a secret; the partial bundle was deleted. Holds kinds, not values."""

    def __init__(self, leaks: list[Leak]) -> None:
        super().__init__("; ".join(leak.describe() for leak in leaks))
        self.leaks = leaks


def canonical_json(value: Any) -> bytes:
    """The one JSON encoding of a bundle: stable bytes for equal values."""
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False,
                      default=str)
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member_index(members: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Each member's name, sha256 and size, sorted by name (the manifest's ``members``)."""
    return [{"name": name, "sha256": sha256_hex(data), "size": len(data)}
            for name, data in sorted(members.items())]


def zip_date_time(timestamp: datetime) -> tuple[int, int, int, int, int, int]:
    """The zip entry time for ``timestamp`` (UTC), clamped to the format's 1980..2107."""
    fields = (timestamp.year, timestamp.month, timestamp.day,
              timestamp.hour, timestamp.minute, timestamp.second)
    if fields < _ZIP_MIN_DATE:
        return _ZIP_MIN_DATE
    return min(fields, (2107, 12, 31, 23, 59, 58))


def write_bundle(out_dir: Path, name: str, members: Mapping[str, bytes], *,
                 timestamp: datetime, gate: LeakGate) -> Path:
    """Write ``members`` (the manifest included) as ``out_dir/name``, atomically, under a
    name no other file has (``name`` with ``_1``, ``_2``... before ``.zip`` when taken).

    Returns:
        The bundle's path.

    Raises:
        LeakFound: the gate found a secret in the written zip, which was deleted.
        OSError: the folder cannot be written; nothing is left behind.
    """
    make_private_dirs(out_dir)
    # The temp file is removed however this ends: once published, the bundle is its link.
    with staged_file(out_dir, ".diag_bundle_") as (handle, tmp):
        date_time = zip_date_time(timestamp)
        # Closed before it is published: Windows cannot link or rename an open file.
        with handle, zipfile.ZipFile(handle, "w") as archive:
            for member in sorted(members):
                info = zipfile.ZipInfo(member, date_time)
                info.create_system = _UNIX
                info.external_attr = FILE_MODE << 16
                info.compress_type = COMPRESSION
                archive.writestr(info, members[member], compress_type=COMPRESSION,
                                 compresslevel=COMPRESS_LEVEL)
        # The gate reads back what is on disk, so it checks the artifact, not our intent.
        leaks = gate.scan_zip(tmp)
        if leaks:
            raise LeakFound(leaks)
        _fsync(tmp)
        return _publish(tmp, out_dir, name)


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each ``0700`` whatever the umask; folders
    that exist are left as they are."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to change
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def bundle_names(name: str) -> list[str]:
    """``name``, then ``name`` with ``_1`` .. ``_999`` before its extension."""
    stem, dot, ext = name.rpartition(".")
    base, suffix = (stem, dot + ext) if dot else (name, "")
    return [name, *(f"{base}_{n}{suffix}" for n in range(1, MAX_NAME_SUFFIX + 1))]


def _publish(tmp: Path, out_dir: Path, name: str) -> Path:
    """Give ``tmp`` the first free name of :func:`bundle_names`; never replaces a file."""
    for candidate in bundle_names(name):
        final = out_dir / candidate
        try:
            _take(tmp, final)
        except FileExistsError:
            continue
        return final
    raise FileExistsError(f"{name} and {MAX_NAME_SUFFIX} numbered variants of it exist in "
                          "the output folder")


def _take(tmp: Path, final: Path) -> None:
    """Make ``final`` the bundle, or raise FileExistsError when the name is taken."""
    try:
        os.link(tmp, final)
        return
    except FileExistsError:
        raise
    except (OSError, NotImplementedError):
        pass  # no hard links here (FAT, some network shares): reserve the name instead
    fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        os.replace(tmp, final)  # over our own empty reservation only
    except BaseException:
        with contextlib.suppress(OSError):
            final.unlink()
        raise


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
