"""Which of the otel additions this checkout has, and the marker for tests that need them.

The tests that compare ``/metrics`` with ground truth need ``TelemetryConfig.from_env`` to
read ``HUB_AUDIT_LOG``, ``HUB_AUDIT_FORMAT`` and ``HUB_COUNTS_SQL`` (CONTRACT section 6).
Until it does, they are expected to fail, and only in the metrics comparison
(:class:`MetricsMismatch`): anything else going wrong in them is a real failure. Once otel
reads a variable, the marker drops away by itself and the tests must pass.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from .driver import MetricsMismatch
from .harness import AUDIT_FORMAT, COUNTS_SQL
from .hub.store import connect


def _config_reads(variable: str, value: str, base: dict[str, str]) -> bool:
    """``from_env`` gives another config with ``variable`` set on top of ``base``."""
    from otel import TelemetryConfig

    without = TelemetryConfig.from_env(base)
    with_it = TelemetryConfig.from_env({**base, variable: value})
    if without != TelemetryConfig.from_env(base):  # no value equality: compare what it shows
        return repr(with_it) != repr(without)
    return with_it != without


def _missing() -> tuple[str, ...]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        connect(folder / "secondhub.db").close()
        counts = json.loads(COUNTS_SQL.read_text(encoding="utf-8"))
        counts["database"] = str(folder / "secondhub.db")
        (folder / "counts_sql.json").write_text(json.dumps(counts), encoding="utf-8")
        log = {"HUB_AUDIT_LOG": str(folder / "audit.jsonl")}
        # The format may matter only with a log to read, so it is tried on top of one.
        checks = [("HUB_AUDIT_LOG", log["HUB_AUDIT_LOG"], {}),
                  ("HUB_AUDIT_FORMAT", str(AUDIT_FORMAT), log),
                  ("HUB_COUNTS_SQL", str(folder / "counts_sql.json"), {})]
        return tuple(name for name, value, base in checks
                     if not _config_reads(name, value, base))


#: The variables otel's ``TelemetryConfig.from_env`` does not read yet.
MISSING = _missing()


def needs_otel(*variables: str) -> pytest.MarkDecorator:
    """xfail (strict, and only on a metrics mismatch) while otel lacks any of ``variables``."""
    absent = [name for name in variables if name in MISSING]
    return pytest.mark.xfail(
        bool(absent), strict=True, raises=MetricsMismatch,
        reason=f"waits for otel: TelemetryConfig.from_env does not read {', '.join(absent)} "
               "yet, so /metrics cannot follow this hub's audit log and database")
