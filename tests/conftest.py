"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.state.sql import SQLStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLStore]:
    """A real SQLite state store in a fresh file."""
    opened = open_store(str(tmp_path / "state.db"))
    yield opened
    opened.close()
