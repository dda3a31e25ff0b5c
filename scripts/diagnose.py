"""Write a diagnose bundle for the Sheratan hub (CONTRACT section 5): a thin entry point.

Usage, from the repository root::

    python scripts/diagnose.py [--out DIR] [--lines N] [--home DIR] [--allow-empty]
        [--control-url URL] [--data-url URL] [--timeout-s N] [--token-file PATH ...]
    python scripts/diagnose.py --verify diag_bundle_<timestamp>.zip [--home DIR]
        [--token-file PATH ...]

It prints the bundle's path as the last line. Exit codes: 0 a bundle was written (even if
some collectors failed) or ``--verify`` passed; 1 no bundle was written; 2 bad usage (a
``--verify`` file that is not a zip included), or a
home that does not exist, has no ``logs`` folder or holds none of the hub's files (run from
the wrong folder, say) without ``--allow-empty``; 3 the
leak gate found a secret (the bundle was deleted); 4 ``--verify`` found a tampered bundle;
5 the hub token is neither known nor findable, so no bundle was written (``--verify``: the
bundle is not declared clean).

The hub token: diagnose keeps it out of the bundle, so it must know it or be able to find
it. It looks, itself, at ``HUB_TOKEN``, the home's ``secrets/hub_token``, every
``--token-file PATH``, and the fingerprint the v1.5 hub writes at start
(``state/hub_token.fingerprint.json``), and says on stderr which home it read and which
source it used. With none of them it exits 5 and says how to provide the token, first by
pointing ``--home PATH`` or ``SHERATAN_HOME`` at the hub's home.

A second run in the same second (or with the same ``SOURCE_DATE_EPOCH``) in the same folder
writes ``diag_bundle_<timestamp>_1.zip``: an existing file is never replaced. The bundle is
owner-only (0600), as is any folder diagnose creates for it (0700).

Reproducibility: with ``SOURCE_DATE_EPOCH`` set, it is the timestamp used everywhere (bundle
name, zip entry times, manifest, the "as of" of offline node states), and collector durations
are recorded as ``null``, so two runs on the same inputs give byte-identical zips. Without
it the clock is used and durations are recorded in milliseconds.

The logic lives in the installed package ``sheratan_ops.diag`` (one concern per module;
``sheratan_ops.diag.cli`` is the entry), which also gives the ``sheratan-diagnose`` command.
This script needs the package installed (``pip install .`` from the repository root) or the
repository root on ``PYTHONPATH``; it changes no import path itself.
"""

from __future__ import annotations

import sys

try:
    from sheratan_ops.diag import main
except ModuleNotFoundError as missing:  # run by a python without the package: one line
    print(f"diagnose.py: this python ({sys.executable}) cannot import {missing.name}; "
          "install the package as the README says (python3 -m venv .venv && "
          ".venv/bin/pip install .) and run .venv/bin/python scripts/diagnose.py",
          file=sys.stderr)
    raise SystemExit(2) from None

if __name__ == "__main__":
    sys.exit(main())
