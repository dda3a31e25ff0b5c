"""One diagnose run: collect, redact in layers, build the manifest, write through the gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bundle import MANIFEST, canonical_json, member_index, write_bundle
from .collectors import Result, build_collectors, run_collectors
from .config import DiagConfig
from .gate import LeakGate
from .redact import LayeredRedactor, RedactionCounts, gather_known_secrets

TOOL = "sheratan-diagnose"
VERSION = "1.0.0"
#: Bumped when the manifest's shape changes, so readers can tell.
MANIFEST_FORMAT = 1


@dataclass(frozen=True, slots=True)
class RunReport:
    """A written bundle and the collectors' outcomes (already redacted)."""

    path: Path
    collectors: dict[str, dict[str, Any]]


def deadline_s(timeout_s: float) -> float:
    """How long the whole collection may take: a probe is a connect and a read, and a
    metrics collector may fall back to the db after one."""
    return 3 * timeout_s + 2


def create_bundle(config: DiagConfig, env: Mapping[str, str]) -> RunReport:
    """Collect everything, redact it, and write the bundle.

    Args:
        config: the run's settings.
        env: the environment: its names go to ``env_keys.txt``; the values of secret-named
            variables and ``HUB_TOKEN`` become known secrets; no value is ever recorded.

    Raises:
        bundle.LeakFound: the gate found a secret; no bundle was written.
        OSError: the output folder cannot be written.
    """
    secrets = gather_known_secrets(env, config.paths.token_file)
    counts = RedactionCounts()
    redactor = LayeredRedactor(secrets, counts)
    results = run_collectors(build_collectors(config, env),
                             deadline_s=deadline_s(config.timeout_s))
    members: dict[str, bytes] = {}
    collectors: dict[str, dict[str, Any]] = {}
    for result in results:
        counts.add("allowlist", "dropped_fields", result.output.dropped_fields)
        for name, member in result.output.members.items():
            if isinstance(member, bytes):
                text = member.decode("utf-8", "replace")
                members[name] = redactor.text(text).encode("utf-8")
            else:
                members[name] = canonical_json(redactor.structure(member))
        collectors[result.name] = _collector_entry(result, redactor, config.reproducible)
    manifest = {
        "format": MANIFEST_FORMAT,
        "tool": TOOL,
        "tool_version": VERSION,
        "timestamp": config.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timestamp_source": "SOURCE_DATE_EPOCH" if config.reproducible else "clock",
        "members": member_index(members),
        "collectors": collectors,
        "redactions": counts.counts,
        "known_values": {"loaded": len(secrets.values), "too_short": secrets.too_short},
    }
    members[MANIFEST] = canonical_json(manifest)
    path = write_bundle(config.out_dir, config.bundle_name, members,
                        timestamp=config.timestamp, gate=LeakGate(secrets))
    return RunReport(path, collectors)


def _collector_entry(result: Result, redactor: LayeredRedactor,
                     reproducible: bool) -> dict[str, Any]:
    output = result.output
    return {
        "status": output.status,
        "error": redactor.text(output.error) if output.error else None,
        # Durations differ run to run; with SOURCE_DATE_EPOCH they would break byte
        # identity, so they are null then (documented in the manifest's format).
        "duration_ms": None if reproducible else round(result.duration_s * 1000, 1),
        "members": sorted(output.members),
        "detail": redactor.structure(output.detail),
    }
