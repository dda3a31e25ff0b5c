"""Timestamps as the hub writes them: ISO 8601, UTC, microseconds, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
