"""calsync's settings: one TOML file plus environment overrides, validated into frozen values.

Entry points build a ``Settings`` with ``load_settings()`` and pass it down; nothing reads configuration
from anywhere else, and there is no module-level settings object. Why so strict about the file: a sync hub
that guesses (ignores a misspelt key, clamps a window, falls back to a default mode) deletes or duplicates
somebody's appointments. Every mistake is a ``ConfigError`` whose ``where`` names the file and the key path,
counting array entries from 1 (``calsync.toml: pairs[2].mode`` is the second ``[[pairs]]`` block), with a
message that says what is allowed. Unknown keys are errors.

Secrets are never values in the settings: a password is given as ``password_env`` (a variable's name) or
``password_file`` (a path), kept as a ``SecretRef`` and read only when a connector needs it, so no repr, log
line or error message can show one. The variables in ``ENV_OVERRIDES`` override the file, 12-factor style.

The README's configuration reference documents every key; keep the two in step.
"""

from __future__ import annotations

from calsync.config.model import (
    Connection,
    ConnectionType,
    DavAuth,
    DavConnection,
    DavServer,
    EndpointRef,
    EwsAuth,
    EwsConnection,
    FolderConnection,
    GraphConnection,
    Integration,
    IntegrationUser,
    LogLevel,
    LogSettings,
    MemoryConnection,
    PairSettings,
    SecretRef,
    Settings,
    StateSettings,
    redact_url,
)
from calsync.config.parse import DEFAULT_STATE_FILE, ENV_OVERRIDES, load_settings, parse_settings
from calsync.model.users import UserOptions

__all__ = [
    "DEFAULT_STATE_FILE",
    "ENV_OVERRIDES",
    "Connection",
    "ConnectionType",
    "DavAuth",
    "DavConnection",
    "DavServer",
    "EndpointRef",
    "EwsAuth",
    "EwsConnection",
    "FolderConnection",
    "GraphConnection",
    "Integration",
    "IntegrationUser",
    "LogLevel",
    "LogSettings",
    "MemoryConnection",
    "PairSettings",
    "SecretRef",
    "Settings",
    "StateSettings",
    "UserOptions",
    "load_settings",
    "parse_settings",
    "redact_url",
]
