"""The hub's ops tools, installed with the package (CONTRACT sections 5 and 6).

Each subpackage is one tool, and its ``main`` is the installed command:

- :mod:`sheratan_ops.diag`: ``sheratan-diagnose``, the diagnose bundle
  (``scripts/diagnose.py``).
- :mod:`sheratan_ops.top`: ``sheratan-top``, the live terminal view (``scripts/hub_top.py``).
- :mod:`sheratan_ops.smoke`: ``sheratan-smoke``, the smoke checks
  (``scripts/smoke_checks.py``).
- :mod:`sheratan_ops.hubenv`: where the three find the hub (its home, host and ports).
- :mod:`sheratan_ops.cliargs`: what their edges share (the invoked name, the base-URL check,
  the hub's "metrics disabled" answer).

``sheratan-watcher`` is the watcher's own CLI (``python -m watcher``). The scripts under
``scripts/`` are thin wrappers around these ``main`` functions.
"""
