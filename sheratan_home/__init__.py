"""The Sheratan home: where every file lives below ``SHERATAN_HOME``, and the hub's
environment read exactly as the hub reads it.

Standard library only, and nothing runs at import time, so the hub, the watcher, the
telemetry layer and every ops script can share it. ``layout`` is the file table,
``env`` the variable readers.
"""

from __future__ import annotations

from . import env, layout
from .env import ConfigError
from .layout import DEFAULT_HOME, HomeLayout

__all__ = ["DEFAULT_HOME", "ConfigError", "HomeLayout", "env", "layout"]
