"""The state store's connection layer: where the database is, how to talk to it, and how its errors look.

Kept apart from ``calsync.state.sql`` (what is stored) so each module reads in one sitting. Everything here is
about the two backends' differences:

- SQLite: WAL (readers beside one writer), ``synchronous=NORMAL`` (durable across application crashes in
  WAL mode), foreign keys on, a busy timeout, and transactions begun by us (``BEGIN IMMEDIATE`` for writes)
  instead of by the sqlite3 module's guesswork, so a write never fails half-way because another process
  wrote since it read, and DDL in a migration is transactional.
- PostgreSQL: the psycopg 3 driver, a connect timeout, and the server's clock for leases.

Every SQLAlchemy error leaves through ``translate_errors`` as ``StateError``; a URL is only ever shown with
its password hidden.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import (
    URL,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Table,
    create_engine,
    event,
    func,
    insert,
    make_url,
    select,
)
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from calsync.errors import ConfigError, StateError
from calsync.state import migrations

logger = logging.getLogger(__name__)

SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite writer waits for another process's write transaction before failing."""
POSTGRES_CONNECT_SECONDS = 10
"""How long to wait for a PostgreSQL server unless the URL sets ``connect_timeout``."""
_IMMEDIATE = "calsync_begin_immediate"
_RowTuple = Callable[[Mapping[str, object]], tuple[object, ...]]


def starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, case and all: SQLite's ``LIKE`` (what ``startswith`` makes) ignores
    ASCII case, so removing ``anna`` would also take ``ANNA``'s pairs."""
    return func.substr(column, 1, len(prefix)) == prefix


def database_url(url_or_path: str | os.PathLike[str] | URL) -> URL:
    """The SQLAlchemy URL for a configured location.

    A bare path means a SQLite file; ``postgresql://`` and ``postgres://`` get the psycopg 3 driver; an
    explicit ``sqlite+...`` or ``postgresql+...`` URL is kept. Raises ``ConfigError`` for anything else.
    """
    if isinstance(url_or_path, os.PathLike) or (isinstance(url_or_path, str) and "://" not in url_or_path):
        return URL.create("sqlite", database=str(Path(url_or_path).expanduser().absolute()))
    try:
        url = make_url(url_or_path)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {exc}", where="state database") from exc
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() in ("sqlite", "postgresql"):
        return url
    shown = url.render_as_string(hide_password=True)
    raise ConfigError(f"unsupported database {shown}; use a SQLite path or postgresql://", where="state database")


@contextmanager
def translate_errors(where: str = "state store") -> Iterator[None]:
    """Turn SQLAlchemy's exceptions into ``StateError``, keeping the original as ``__cause__``.

    The message names the driver's own reason, never the SQL or its parameters (they can hold sync tokens).
    """
    try:
        yield
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise StateError(f"{where}: {reason[:500]}") from exc


class Database:
    """An engine with the store's connection settings, its two kinds of transaction, and dialect differences.

    ``read()`` and ``write()`` are the only ways in: both check the store is open and translate errors.
    """

    def __init__(self, url: URL) -> None:
        self.shown = url.render_as_string(hide_password=True)
        self.dialect = url.get_backend_name()
        self.closed = False
        self._statements: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], tuple[str, _RowTuple | None]] = {}
        with translate_errors(f"state store {self.shown}"):
            self.engine = _sqlite_engine(url) if self.dialect == "sqlite" else _postgres_engine(url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads; whatever it began is rolled back on leaving."""
        self._check_open()
        with translate_errors(f"state store {self.shown}"), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction, committed on leaving the block. SQLite takes its write lock at ``BEGIN`` so a
        transaction never fails half-way because another process wrote since it started reading."""
        self._check_open()
        with translate_errors(f"state store {self.shown}"), self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    def now(self, conn: Connection) -> datetime:
        """The time leases are measured in: PostgreSQL's clock (shared by all machines), else this one's."""
        if self.dialect == "postgresql":
            value: datetime = conn.execute(select(func.now())).scalar_one()
            return value.astimezone(UTC)
        return datetime.now(UTC)

    def upsert(
        self,
        table: Table,
        keys: Sequence[str],
        where: ColumnElement[bool] | None = None,
        *,
        replace: bool = True,
    ) -> Insert:
        """``INSERT ... ON CONFLICT (keys) DO UPDATE`` setting every other column (``DO NOTHING`` when not
        ``replace``), in this dialect. ``where`` limits which existing rows may be replaced."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            pg = postgresql.insert(table)
            if not replace:
                return pg.on_conflict_do_nothing(index_elements=list(keys))
            changes = {c.name: pg.excluded[c.name] for c in table.c if c.name not in keys}
            return pg.on_conflict_do_update(index_elements=list(keys), set_=changes, where=where)
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table)
        if not replace:
            return lite.on_conflict_do_nothing(index_elements=list(keys))
        changes = {c.name: lite.excluded[c.name] for c in table.c if c.name not in keys}
        return lite.on_conflict_do_update(index_elements=list(keys), set_=changes, where=where)

    @staticmethod
    def driver_value(conn: Connection, column: Column[Any], value: object) -> object:
        """``value`` as the driver receives it for ``column`` (a UTC timestamp string on SQLite, for one)."""
        processor = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        return processor(value) if processor else value

    def upsert_many(
        self, conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, object]]
    ) -> None:
        """``upsert`` of many rows (at least two columns each) through the driver's own ``executemany``.

        Why: SQLAlchemy converts every parameter of every row through its column type, which for 10,000 links
        costs more than SQLite's own work, and compiling the statement costs more than a one-link checkpoint;
        so the SQL is compiled once per shape and rows must hold driver values: strings and numbers as they
        are, anything else converted once per batch with ``driver_value``.
        """
        if rows:
            self._many(conn, ("upsert", table.name, tuple(keys)), lambda: self.upsert(table, keys), rows)

    def insert_many(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
        """A plain ``INSERT`` of many rows (at least two columns each), driver values only, as ``upsert_many``."""
        if rows:
            self._many(conn, ("insert", table.name, ()), lambda: insert(table), rows)

    def _many(
        self,
        conn: Connection,
        kind: tuple[str, str, tuple[str, ...]],
        build: Callable[[], Insert],
        rows: Sequence[Mapping[str, object]],
    ) -> None:
        shape = (*kind, tuple(rows[0]))
        if shape not in self._statements:
            compiled = build().compile(dialect=conn.dialect, column_keys=list(shape[3]))
            order = compiled.positiontup if compiled.positional else None
            self._statements[shape] = (compiled.string, itemgetter(*order) if order else None)
        sql, as_tuple = self._statements[shape]
        conn.exec_driver_sql(sql, [as_tuple(row) for row in rows] if as_tuple else [dict(row) for row in rows])

    def ensure_schema(self) -> None:
        """Migrate to ``HEAD`` unless already there; the at-head check imports no Alembic."""
        with self.read() as conn:
            current = migrations.current_revision(conn)
        if current == (migrations.HEAD,):
            return
        logger.info("migrating state store %s from %s to %s", self.shown, current or "empty", migrations.HEAD)
        with self.write() as conn:
            migrations.upgrade(conn)

    def close(self) -> None:
        """Dispose of the pool; later ``read``/``write`` calls raise ``StateError``."""
        self.closed = True
        self.engine.dispose()

    def _check_open(self) -> None:
        if self.closed:
            raise StateError(f"state store {self.shown} is closed")


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        try:
            Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the directory of the state database {url.database}: {exc}") from exc
    args: dict[str, Any] = {"timeout": SQLITE_BUSY_SECONDS}
    if memory:
        args["check_same_thread"] = False
    engine = create_engine(url, connect_args=args, poolclass=StaticPool if memory else None)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: object) -> None:
    """Set the pragmas; driver-level autocommit hands ``BEGIN`` to ``_sqlite_on_begin``."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    _switch_to_wal(cursor)
    for pragma in ("synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting for other connections.

    Why the loop: switching the journal mode needs the database to itself, and SQLite reports "database is
    locked" at once instead of calling the busy handler when several processes open a new database together.
    """
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgres_engine(url: URL) -> Engine:
    args: dict[str, Any] = {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_SECONDS}
    try:
        return create_engine(url, connect_args=args)
    except ImportError as exc:
        raise ConfigError(
            f"PostgreSQL needs its driver: install calsync[postgres] ({exc})", where="state database"
        ) from exc


class OwnDatabase:
    """The base of a store that opens its own ``Database``: created or migrated on construction (and closed
    again if that fails), released by ``close()``. Why each store has its own: the services use one without
    the others (the web app the hub and access stores, the CLI one at a time)."""

    def __init__(self, url: str | os.PathLike[str] | URL) -> None:
        self._db = Database(database_url(url))
        try:
            self._db.ensure_schema()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db.shown!r})"

    def close(self) -> None:
        """Release the connections; later calls raise ``StateError``."""
        self._db.close()
