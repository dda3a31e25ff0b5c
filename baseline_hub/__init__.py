"""The frozen v1.5 Sheratan hub: the reference implementation the observability layer runs against.

Public surface: the configuration, the observer seam, the app/server builders, and the
read-only retry history for seeding the metrics windows at start-up.
"""

from .app import PlaneInstrumenter, build_plane_app
from .config import EXIT_CONFIG_ERROR, ConfigError, HubConfig, HubPaths
from .context import HubContext, PlaneInfo
from .observer import HubObserver, HubStateView, RetryCause, SecurityEvent
from .retries import PastRetry, read_retries_since
from .server import HubRuntime, HubStartError, serve
from .version import __version__

__all__ = [
    "EXIT_CONFIG_ERROR",
    "ConfigError",
    "HubConfig",
    "HubContext",
    "HubObserver",
    "HubPaths",
    "HubRuntime",
    "HubStartError",
    "HubStateView",
    "PastRetry",
    "PlaneInfo",
    "PlaneInstrumenter",
    "RetryCause",
    "SecurityEvent",
    "__version__",
    "build_plane_app",
    "read_retries_since",
    "serve",
]
