"""Connector types by name, imported only when a configuration uses them.

Why strings instead of imported classes: a connector may pull in a heavy protocol library (httpx, exchangelib,
msal), and a command that syncs two folders should not pay for them; the registry is also the one list of what
this version can run, so an unknown or not-yet-available type is a ``ConfigError`` that lists the known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from calsync.connectors.base import Connector
from calsync.errors import ConfigError

ConnectorFactory = Callable[..., Connector]
"""A connector class; its keyword arguments differ by type, so services call it with the type's settings."""

RUNNABLE: dict[str, str] = {
    "folder": "calsync.connectors.folder:FolderConnector",
    "memory": "calsync.connectors.memory:MemoryConnector",
    "caldav": "calsync.connectors.caldav:CalDavConnector",
    "carddav": "calsync.connectors.carddav:CardDavConnector",
    "graph": "calsync.connectors.graph.connector:GraphConnector",
    "ews": "calsync.connectors.ews.connector:EwsConnector",
}
"""Types this version can sync, as ``module:Class``."""

PLANNED: tuple[str, ...] = ()
"""Types the configuration accepts already; their connectors arrive in later versions."""


def connector_class(type_name: str, *, where: str = "") -> ConnectorFactory:
    """The connector class for ``type_name``, imported on first use.

    Raises ``ConfigError`` (at ``where``) for a planned type that is not runnable yet and for an unknown one,
    naming the runnable types either way.
    """
    target = RUNNABLE.get(type_name)
    runnable = ", ".join(RUNNABLE)
    if target is None:
        if type_name in PLANNED:
            message = f"{type_name} connections cannot sync yet in this version; runnable types: {runnable}"
        else:
            known = ", ".join(known_types())
            message = f"unknown connection type {type_name!r}; known types: {known} (runnable: {runnable})"
        raise ConfigError(message, where=where)
    module_name, _, class_name = target.partition(":")
    factory: ConnectorFactory = getattr(importlib.import_module(module_name), class_name)
    return factory


def known_types() -> list[str]:
    """Every type name the configuration accepts, runnable first."""
    return [*RUNNABLE, *PLANNED]
