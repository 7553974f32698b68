"""calsync: a self-hosted hub that syncs a business system with its users' calendars."""

__version__ = "0.1.0"
"""The package version, shown by ``/health``, ``/docs`` and ``calsync --version``."""
