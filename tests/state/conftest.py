"""Fixtures that run every state store test against SQLite and against the real PostgreSQL.

Each test gets its own database: a SQLite file under ``tmp_path``, or a fresh PostgreSQL schema chosen through
the connection's ``search_path``, dropped afterwards. Tests therefore run in parallel (pytest-xdist) without
seeing each other's rows.

PostgreSQL comes from ``CALSYNC_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When it cannot be reached the PostgreSQL half of the suite fails with a message saying so; it never skips,
because a silently skipped production backend is how CI goes green on a broken store. Deselect it on purpose
with ``-m "not postgres"``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, Executable, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from calsync.state import store as port
from calsync.state.sql import SQLStore, database_url, open_store
from calsync.state.store import Link, SideStatus

POSTGRES_ENV = "CALSYNC_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Backend:
    """One database a test runs against: its kind (``sqlite`` or ``postgresql``) and the URL to open."""

    kind: str
    url: str

    def scalar(self, sql: str | Executable, **params: Any) -> Any:
        """Run one statement on a connection of its own (not the store's) and return the first column."""
        engine = create_engine(database_url(self.url), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(sql) if isinstance(sql, str) else sql, params)
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def run_python(self, script: str, *args: str) -> str:
        """Run ``script`` in a new Python process with the URL as ``sys.argv[1]``; returns its stdout."""
        done = subprocess.run(
            [sys.executable, "-c", script, self.url, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test server, checked once per session; fails loudly when the server is unreachable."""
    url = database_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL))
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    unreachable = ""
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        unreachable = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if unreachable:
        shown = url.render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL at {shown} is unreachable ({unreachable}). The state store must pass on PostgreSQL: "
            f'start the server, point {POSTGRES_ENV} at one, or deselect these tests with -m "not postgres".',
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Backend]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'state.db'}")
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"calsync_test_{uuid.uuid4().hex[:16]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(admin.url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield Backend("postgresql", url.render_as_string(hide_password=False))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(backend: Backend) -> Iterator[SQLStore]:
    """A store opened (and so migrated) on the test's database, closed afterwards."""
    opened = open_store(backend.url)
    yield opened
    opened.close()


def owner_of(pid: int, incarnation: str = "0ldrun00", table: str | None = None) -> str:
    """A ``run_owner`` name of another process: of this process table unless ``table`` names another."""
    return f"{socket.gethostname()}:{pid}:{incarnation}:{port._PROCESS_TABLE if table is None else table}"


def ended_process_owner() -> str:
    """The ``run_owner`` name of a process of this machine that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return owner_of(int(done.stdout))


def make_link(ident: str, version: str = "1") -> Link:
    """A link whose fields all differ, so a swapped column shows up in a comparison."""
    return Link(
        ident,
        SideStatus(f"/a/{ident}", f"a-v{version}", f"a-digest-{ident}-{version}"),
        SideStatus(f"/b/{ident}.ics", f'"b-v{version}"', f"b-digest-{ident}-{version}"),
    )


def stored_links(store: SQLStore, pair: str = "p") -> dict[str, Link]:
    """The links of a pair as a new run sees them."""
    with store.open_pair(pair) as state:
        return state.links()
