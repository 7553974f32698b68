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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema on the test server, dropped afterwards.

    Why a schema per test: the server outlives the test run (CI reuses the machine's), so tables left in a shared
    schema by an older version of the code would be taken for an up-to-date database. Unreachable is a failure,
    never a skip.
    """
    import os
    import uuid

    from sqlalchemy import create_engine, make_url, text

    base = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    admin_url = make_url(base).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url)
    schema = f"calsync_test_{uuid.uuid4().hex[:16]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # fail loudly: a skipped production backend is how CI goes green on a broken store
        admin.dispose()
        pytest.fail(f"PostgreSQL at CALSYNC_TEST_POSTGRES_URL is unreachable: {exc}", pytrace=False)
    try:
        yield admin_url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
