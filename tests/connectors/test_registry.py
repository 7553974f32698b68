"""The connector registry: runnable types resolve to their classes on first use; others are clear errors."""

from __future__ import annotations

import pytest

from calsync.connectors.folder import FolderConnector
from calsync.connectors.memory import MemoryConnector
from calsync.connectors.registry import PLANNED, RUNNABLE, connector_class, known_types
from calsync.errors import ConfigError


def test_runnable_types_resolve_to_their_classes() -> None:
    assert connector_class("folder") is FolderConnector
    assert connector_class("memory") is MemoryConnector


def test_every_runnable_entry_names_an_importable_class() -> None:
    for name in RUNNABLE:
        assert callable(connector_class(name))


def test_ews_is_runnable() -> None:
    from calsync.connectors.ews.connector import EwsConnector

    assert connector_class("ews", where="calsync.toml: pairs[1].b") is EwsConnector
    assert PLANNED == ()


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown connection type 'exchange'") as info:
        connector_class("exchange")
    assert "folder, memory, caldav, carddav, graph, ews" in str(info.value)
    assert known_types() == [*RUNNABLE, *PLANNED]
