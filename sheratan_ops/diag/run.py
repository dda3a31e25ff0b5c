"""One diagnose run: collect, redact in layers, build the manifest, write through the gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel import KnownSecrets

from . import known as known_mod
from .bundle import MANIFEST, canonical_json, member_index, write_bundle
from .collectors import build_collectors, run_collectors
from .config import DiagConfig
from .finish import finish
from .gate import LeakGate
from .redact import HomePaths, RedactionCounts

TOOL = "sheratan-diagnose"
VERSION = "1.1.0"
#: Bumped when the manifest's shape changes, so readers can tell. 2: ``token``,
#: ``redactions.pii`` and ``.paths``, ``known_values.fingerprints``, each collector's
#: ``note``, and the statuses ``refused`` and ``cut``.
MANIFEST_FORMAT = 2


@dataclass(frozen=True, slots=True)
class RunReport:
    """A written bundle and the collectors' outcomes (already redacted)."""

    path: Path
    collectors: dict[str, dict[str, Any]]


def deadline_s(timeout_s: float) -> float:
    """How long the whole collection may take: a probe is a connect and a read, and a
    metrics collector may fall back to the db after one."""
    return 3 * timeout_s + 2


def create_bundle(config: DiagConfig, env: Mapping[str, str],
                  secrets: KnownSecrets) -> RunReport:
    """Collect everything, redact it, and write the bundle.

    Args:
        config: the run's settings.
        env: the environment: its names go to ``env_keys.txt``; no value is ever recorded.
        secrets: the known secrets (:func:`diag.known.load_secrets`); they drive both the
            redaction and the gate, through one redactor.

    Raises:
        bundle.LeakFound: the gate found a secret; no bundle was written.
        OSError: the output folder cannot be written.
    """
    redactor = secrets.redactor(mask_emails=True)
    home = HomePaths(config.home)
    counts = RedactionCounts()
    collectors = build_collectors(config, env)
    results = run_collectors(collectors, deadline_s=deadline_s(config.timeout_s))
    members: dict[str, bytes] = {}
    entries: dict[str, dict[str, Any]] = {}
    for collector, result in zip(collectors, results, strict=True):
        done = finish(result, collector.members, redactor=redactor, home=home,
                      reproducible=config.reproducible)
        counts.merge(done.counts)
        members.update(done.members)
        entries[result.name] = done.entry
    manifest = {
        "format": MANIFEST_FORMAT,
        "tool": TOOL,
        "tool_version": VERSION,
        "timestamp": config.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timestamp_source": "SOURCE_DATE_EPOCH" if config.reproducible else "clock",
        "members": member_index(members),
        "collectors": entries,
        "redactions": counts.counts,
        "known_values": {"loaded": len(secrets.values), "too_short": secrets.too_short,
                         "fingerprints": len(secrets.fingerprints)},
        "token": known_mod.manifest_entry(secrets, config.home, config.token_files),
    }
    members[MANIFEST] = home.scrub(canonical_json(manifest))
    path = write_bundle(config.out_dir, config.bundle_name, members,
                        timestamp=config.timestamp, gate=LeakGate(redactor))
    return RunReport(path, entries)
