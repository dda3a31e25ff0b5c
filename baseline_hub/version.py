"""The frozen hub version that ``/health`` reports."""

__version__ = "1.5.0"
