"""The alerts file before the watcher appends to it: refusals, and the repair of a torn tail.

The watcher appends only to a regular file, never through a symlink (``_private``). A crash
in the middle of a write may leave the start of an alert line without its newline (or,
after a power loss, the zeros of an append the disk never got); that fragment was never
durable, so it is cut and the alert regenerated whole. Only such a fragment is ever cut: a
file that does not end with a newline for any other reason (``--alerts`` pointed at another
file, the hub's audit log say) is refused and left untouched, because cutting its "torn
tail" would destroy its last line, and appending would glue an alert onto it.

A fragment is one of this watcher's when it is the start of an alert line as the watcher
writes them, ``{"ts":"<27 characters>","alert_id":"``: in full, that head is proof; a
shorter fragment, or zeros, only after a line that is a whole alert line.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import msgspec

from sheratan_home import HomeLayout
from watcher._alert import alert_key_from_dict
from watcher._json import DECODE_ERRORS
from watcher._private import UnsafeFile, open_private

logger = logging.getLogger(__name__)

#: How every alert line starts (``Alert.to_dict`` puts ``ts`` first, then ``alert_id``);
#: a "0" stands for any digit.
ALERT_HEAD = b'{"ts":"0000-00-00T00:00:00.000000Z","alert_id":"'
#: Far longer than any alert line (seven group values of at most 128 characters, escaped),
#: so a torn line longer than this is not one.
MAX_ALERT_LINE_BYTES = 64 << 10
_DIGIT = ord("0")
_NOT_OURS = "; it is not an alerts file this watcher wrote"


def _fits_head(data: bytes) -> bool:
    """True when ``data`` agrees with :data:`ALERT_HEAD` as far as either goes."""
    pairs = zip(ALERT_HEAD, data, strict=False)  # stops at the shorter
    return all(h == d or (h == _DIGIT and 0x30 <= d <= 0x39) for h, d in pairs)


def _is_alert_line(line: bytes) -> bool:
    try:
        obj = msgspec.json.decode(line)
    except DECODE_ERRORS:
        return False
    return isinstance(obj, dict) and alert_key_from_dict(obj) is not None


def torn_tail_start(tail: bytes, *, whole: bool) -> int | None:
    """Judges the end of an alerts file.

    Args:
        tail: the file's last bytes (more than ``MAX_ALERT_LINE_BYTES``, or all of them).
        whole: ``tail`` is the whole file.

    Returns:
        None when the file ends with a newline (it is appended to as it is), else the
        offset in ``tail`` where the torn alert line to cut starts.

    Raises:
        ValueError: the last line is not a torn alert line of this watcher; says why.
    """
    lines = tail.split(b"\n")
    fragment = lines.pop()  # what follows the last newline
    if not fragment:
        return None
    rest = fragment.lstrip(b"\0")
    if len(fragment) > MAX_ALERT_LINE_BYTES or not _fits_head(rest):
        raise ValueError("does not end with a newline, and its last line is not the start "
                         "of an alert line" + _NOT_OURS)
    if len(rest) < len(ALERT_HEAD):  # too short to prove itself: what came before must
        complete = lines if whole else lines[1:]  # (the first may begin mid-line)
        last = next((line for line in reversed(complete) if line.strip()), None)
        if last is None or not _is_alert_line(last):
            raise ValueError("does not end with a newline, and its last line is too short "
                             "to tell from another file's and follows no alert line"
                             + _NOT_OURS)
    return len(tail) - len(fragment)


def _judge(fd: int, path: Path) -> tuple[int, int | None]:
    """The file's size and where its torn tail starts (None if it has none)."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return 0, None
    start = max(0, size - MAX_ALERT_LINE_BYTES - 1)
    os.lseek(fd, start, os.SEEK_SET)
    tail = b""
    while len(tail) < size - start:
        chunk = os.read(fd, size - start - len(tail))
        if not chunk:
            break
        tail += chunk
    try:
        offset = torn_tail_start(tail, whole=start == 0)
    except ValueError as exc:
        raise UnsafeFile(path, str(exc)) from None
    return size, None if offset is None else start + offset


def repair_torn_tail(path: Path) -> None:
    """Checks ``alerts.jsonl`` before appending to it, and cuts a torn last alert line.

    The cut alert was never durable, so it is regenerated and written again in full. A
    missing file is created (empty, 0600): a folder the watcher may not write to fails
    here, at start, not at the first alert of a quiet day (found by review: the hub said
    the watcher started, and it died at the first burst, again at each restart).

    Raises:
        UnsafeFile: ``path`` is a symlink, FIFO, folder or device, or does not end with a
            newline nor a torn alert line of this watcher; it was not changed.
        OSError: it cannot be created, read or cut.
    """
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        size, keep = _judge(fd, path)
        if keep is None:
            return
        logger.warning("cutting a torn last alert line (%d bytes) off %s", size - keep, path)
        os.ftruncate(fd, keep)
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_problem(path: Path) -> str | None:
    """Why a replay may not replace ``path`` (``--alerts``), or None.

    A replay writes a new file and renames it over ``path``: whatever was there is gone. So
    it never takes a hub home's ``logs/alerts.jsonl`` (any home's, with its ``state/``
    beside: the live alert history, which a running watcher appends to), and of other files
    only one that is missing, empty, or an earlier replay's output (its first line is an
    alert line): ``--alerts`` pointed at the wrong file must not destroy it (found by
    review: a replay replaced a copy of ``/etc/passwd`` and another home's history). A
    symlink, folder or device is left to the replay's own refusal (``_private``).
    """
    real = path.resolve()
    home = HomeLayout(real.parent.parent)
    if real == home.alerts and home.state_dir.is_dir():
        return (f"--alerts {path} is the alert history of the hub home {home.home}, and a "
                "replay replaces its file; name a file of its own (the watcher left it "
                "untouched)")
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return None
    with path.open("rb") as handle:
        first = handle.read(MAX_ALERT_LINE_BYTES).partition(b"\n")[0]
    if _is_alert_line(first):
        return None
    return (f"--alerts {path} holds something other than alerts (its first line is no alert "
            "line), and a replay replaces its file; name a new file or remove this one (the "
            "watcher left it untouched)")

