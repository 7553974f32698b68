"""Alembic migrations of the state store, configured in code (there is no ``alembic.ini``).

Opening a store runs on every CLI call, so the common case must stay cheap: ``current_revision`` reads the
``alembic_version`` table with plain SQLAlchemy and the store compares it with ``HEAD``; Alembic itself is
only imported by ``upgrade`` when an existing database is behind (a test checks that ``HEAD`` is Alembic's real
head). An empty database is created from the tables module and stamped at ``HEAD`` without Alembic, which a
test proves gives the schema the migrations give.

Why a lock around ``upgrade``: two processes opening a fresh database at once must not both create the
tables. The caller's transaction holds the database's write lock on SQLite (``BEGIN IMMEDIATE``); on
PostgreSQL a transaction-scoped advisory lock per schema serialises migrators, and each re-reads the version
under the lock. Alembic's ``context`` is a module global, so migrations inside one process are serialised by a
thread lock too.

A developer writes the next revision with::

    from alembic import command
    from calsync.state.migrations import alembic_config
    command.revision(alembic_config("sqlite:///dev.db"), "what changed", autogenerate=True)

then edits it into explicit operations, renames it ``NNNN_what.py`` and moves ``HEAD`` here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.exc import DBAPIError

from calsync.errors import StateError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

HEAD = "0014"
"""The newest revision in ``versions/``; the store migrates whenever the database is anywhere else."""

VERSION_TABLE = "alembic_version"

_LOCATION = Path(__file__).resolve().parent
_MIGRATING = threading.Lock()
_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('calsync.migrations:' || coalesce(current_schema(), '')))"


def current_revision(connection: Connection) -> tuple[str, ...] | None:
    """The revisions recorded in the database, or None when it was never migrated.

    Any failure to read the table (it does not exist yet) counts as "never migrated": ``upgrade`` re-checks
    properly under the lock. The caller must roll back afterwards, since a failed statement poisons a
    PostgreSQL transaction.
    """
    try:
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    except DBAPIError:
        return None
    return tuple(sorted(rows))


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for these migrations; ``url`` only matters for the Alembic command line API."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_LOCATION).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(connection: Connection) -> None:
    """Bring the database behind ``connection`` to ``HEAD`` inside the caller's open transaction.

    The caller commits. An empty database is created from the tables module and stamped at ``HEAD`` (see
    ``create_at_head``); any other is migrated by Alembic. Raises ``StateError`` when the database holds a
    revision these migrations do not know (a newer calsync wrote it): downgrading code must not touch such a
    schema.
    """
    with _MIGRATING:
        if connection.dialect.name == "postgresql":
            connection.execute(text(_PG_LOCK))
        if is_empty(connection):
            create_at_head(connection)
            return
        _upgrade_with_alembic(connection)


def is_empty(connection: Connection) -> bool:
    """Whether the database (the current schema on PostgreSQL) holds none of the store's tables, not even
    Alembic's version table: only then may it be created without running the migrations."""
    from calsync.state.tables import metadata

    present = set(inspect(connection).get_table_names())
    return not present & ({VERSION_TABLE} | set(metadata.tables))


def create_at_head(connection: Connection) -> None:
    """Create every table from the tables module and record ``HEAD`` as Alembic would.

    Why not run the migrations: on a first run they cost more than the sync itself (Alembic's import and one
    step per revision), and a test proves that this gives the very schema the migrations give, on SQLite and
    PostgreSQL, names of constraints and indexes included.
    """
    from calsync.state.tables import metadata

    metadata.create_all(connection, checkfirst=False)
    version = Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    version.create(connection)
    connection.execute(version.insert().values(version_num=HEAD))


def _upgrade_with_alembic(connection: Connection) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    config.attributes["connection"] = connection
    heads = MigrationContext.configure(connection).get_current_heads()
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    unknown = sorted(set(heads) - known)
    if unknown:
        raise StateError(
            f"the state database is at schema revision {', '.join(unknown)}, which this version of "
            f"calsync does not know (its newest is {HEAD}); it was written by a newer calsync"
        )
    command.upgrade(config, "head")
