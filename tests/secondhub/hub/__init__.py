"""The second hub: the v1.5 API of CONTRACT section 2 over two processes.

Start each plane as its own process::

    SECONDHUB_TOKEN=... python -m tests.secondhub.hub control
    SECONDHUB_TOKEN=... python -m tests.secondhub.hub data

Module map: ``settings`` (the environment, parsed once), ``store`` (the SQLite schema),
``workers`` and ``tasks`` (the two planes' state), ``audit`` (the security audit writer),
``gate`` (port isolation and the bearer token), ``api`` (the routes) and ``gateway`` (where
the apps are built; the only module that may know about the observability layer).
"""

from __future__ import annotations

VERSION = "1.5.0"
PLANES = ("control", "data")
