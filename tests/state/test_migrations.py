"""Migrations of the state store: from empty to head, back and up again, concurrently, and never twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text, update
from sqlalchemy.pool import NullPool

from calsync.errors import StateError
from calsync.model.refs import Side
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import UserRecord
from calsync.state.migrations import HEAD, alembic_config, is_empty
from calsync.state.sql import SQLStore, database_url, open_store
from calsync.state.store import changed_sides
from calsync.state.tables import metadata
from calsync.state.tables.hub import USER_FLAGS, integration_users, integrations
from calsync.state.tables.sync import links, pairs, shelved_links, sync_tokens
from tests.state.conftest import Backend

_OPEN_STORE = """
import sys, time
from calsync.state.sql import open_store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
store = open_store(sys.argv[1])
with store.open_pair("p") as state:
    state.links()
store.close()
print(sorted(name for name in sys.modules if name.split(".")[0] == "alembic"))
"""


@contextmanager
def connect(backend: Backend) -> Iterator[Connection]:
    """A connection of the test's own to the backend's database (SQLAlchemy's defaults, not the store's)."""
    engine = create_engine(database_url(backend.url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def tables_of(backend: Backend) -> set[str]:
    with connect(backend) as conn:
        return set(inspect(conn).get_table_names())


def test_the_head_constant_is_alembics_head() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def test_a_fresh_database_is_migrated_to_head_matching_the_tables_module(backend: Backend, store: SQLStore) -> None:
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD
    with connect(backend) as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            assert inspector.get_pk_constraint(table.name)["name"] == f"pk_{table.name}"
            for foreign_key in inspector.get_foreign_keys(table.name):
                column = foreign_key["constrained_columns"][0]
                assert foreign_key["name"] == f"fk_{table.name}_{column}_{foreign_key['referred_table']}"


def test_downgrade_to_empty_and_up_again(backend: Backend, store: SQLStore) -> None:
    store.close()
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert tables_of(backend) == {"alembic_version"}
    reopened = open_store(backend.url)
    try:
        with reopened.open_pair("p") as state:
            assert state.links() == {}
    finally:
        reopened.close()
    assert tables_of(backend) == {table.name for table in metadata.sorted_tables} | {"alembic_version"}


def test_opening_a_database_at_head_does_not_import_alembic(backend: Backend, store: SQLStore) -> None:
    assert backend.run_python(_OPEN_STORE, "0") == "[]"


def test_opening_an_empty_database_creates_it_without_alembic(backend: Backend) -> None:
    assert backend.run_python(_OPEN_STORE, "0") == "[]"
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD


def schema_of(conn: Connection) -> dict[str, object]:
    """Everything the database says about its tables: columns with types, nullability and server defaults,
    every constraint and index by name, and how many rows each holds (a migration may insert some)."""
    inspector = inspect(conn)
    schema: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        columns = [
            (c["name"], c["type"].compile(conn.dialect), c["nullable"], c.get("default"))
            for c in inspector.get_columns(table)
        ]
        keys = sorted(
            (fk["name"], fk["constrained_columns"], fk["referred_table"], fk["referred_columns"], fk["options"])
            for fk in inspector.get_foreign_keys(table)
        )
        indexes = sorted((ix["name"], ix["column_names"], ix["unique"]) for ix in inspector.get_indexes(table))
        uniques = sorted((uq["name"], uq["column_names"]) for uq in inspector.get_unique_constraints(table))
        checks = sorted((ck["name"], ck["sqltext"]) for ck in inspector.get_check_constraints(table))
        rows = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()  # seed data counts too
        schema[table] = (columns, inspector.get_pk_constraint(table), keys, indexes, uniques, checks, rows)
    return schema


def test_a_database_created_at_head_is_the_migrated_database(backend: Backend) -> None:
    created = open_store(backend.url)
    created.close()
    with connect(backend) as conn:
        at_head = schema_of(conn)
    with connect(backend) as conn, conn.begin():
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE alembic_version"))
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with connect(backend) as conn:
        migrated = schema_of(conn)
    assert set(at_head) == {table.name for table in metadata.sorted_tables} | {"alembic_version"}
    assert at_head == migrated
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD


def test_0009_keeps_the_integrations_of_0008_and_they_trust_the_system_cas(backend: Backend) -> None:
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    row = dict.fromkeys(("description", "department", "autodiscover", "client_id", "tenant_id", "task_activity"), "")
    row |= {
        "name": "old", "company": "ACME", "connection_type": "caldav", "url": "https://dav.acme.test/",
        "auth_mode": "delegate", "username": "svc", "password_enc": "tok-1", "two_way": True, "days_back": 30,
        "days_forward": 30, "full_sync_minutes": 1440, "interval_minutes": 20, "appointment_activity": "VISIT",
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    flags = dict.fromkeys(USER_FLAGS, True)
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
        added = conn.execute(integrations.insert().values(**row))  # 0008's columns: ca_bundle is 0009's
        user = {"business_user": "anna", "mailbox": "anna", "created_at": now, **flags}
        conn.execute(integration_users.insert().values(integration_id=added.inserted_primary_key[0], **user))
    admin = open_admin_store(backend.url)  # migrates to head
    try:
        old = admin.integration("old")
        assert old is not None and old.ca_bundle == ""
        assert (old.url, old.password_enc, old.appointment_activity) == ("https://dav.acme.test/", "tok-1", "VISIT")
        assert admin.users("old") == [UserRecord("anna", "anna")]
    finally:
        admin.close()
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD


@contextmanager
def _one_link_at(backend: Backend, revision: str) -> Iterator[Connection]:
    """The schema at ``revision`` holding pair ``p`` with the link ``uid-1`` (``one.ics`` on A, ``uid-1.ics`` on
    B), in a transaction the block may add to before it commits."""
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    link = dict.fromkeys(("a_version", "a_digest", "b_version", "b_digest", "kind", "parked"), "v")
    link |= {"ident": "uid-1", "a_href": "one.ics", "b_href": "uid-1.ics", "updated_at": now}
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        pair_id = conn.execute(pairs.insert().values(name="p", created_at=now)).inserted_primary_key[0]
        conn.execute(links.insert().values(pair_id=pair_id, **link))
        yield conn


def test_0010_drops_the_href_indexes_of_links_and_keeps_the_links(backend: Backend) -> None:
    with _one_link_at(backend, "0009") as conn:
        assert {ix["name"] for ix in inspect(conn).get_indexes("links")} >= {
            "ix_links_pair_id_a_href",
            "ix_links_pair_id_b_href",
        }
    store = open_store(backend.url)  # migrates to head
    try:
        with store.open_pair("p") as state:
            kept = state.links()["uid-1"]
        assert (kept.a.href, kept.b.href, kept.kind) == ("one.ics", "uid-1.ics", "v")
    finally:
        store.close()
    with connect(backend) as conn:
        assert not {ix["name"] for ix in inspect(conn).get_indexes("links")} & {
            "ix_links_pair_id_a_href",
            "ix_links_pair_id_b_href",
        }


def test_0011_leaves_the_pairs_of_0010_unbound_and_their_first_binding_keeps_their_links(backend: Backend) -> None:
    with _one_link_at(backend, "0010"):
        pass  # committed as it is
    store = open_store(backend.url)  # migrates to head
    try:
        assert backend.scalar("SELECT bound_to FROM pairs") is None
        with store.open_pair("p") as state:
            assert state.bind("A: a:cal\nB: b:cal") is None
            assert list(state.links()) == ["uid-1"]
        assert backend.scalar("SELECT bound_to FROM pairs") == "A: a:cal\nB: b:cal"
    finally:
        store.close()


def test_only_a_database_without_any_of_the_tables_is_created_at_head(backend: Backend) -> None:
    with connect(backend) as conn, conn.begin():
        conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
        assert is_empty(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        assert not is_empty(conn)
    store = open_store(backend.url)  # an emptied version table: migrated by Alembic from the start
    store.close()
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD
    assert tables_of(backend) >= {table.name for table in metadata.sorted_tables}


def test_a_schema_from_a_newer_calsync_is_refused(backend: Backend, store: SQLStore) -> None:
    store.close()
    backend.scalar("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StateError, match=r"9999.*newer calsync"):
        open_store(backend.url)


def test_processes_opening_an_empty_database_together_migrate_it_once(backend: Backend) -> None:
    start_at = str(time.time() + 2.0)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_STORE, backend.url, start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], [err for _, err in results]
    assert backend.scalar("SELECT count(*) FROM alembic_version") == 1
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD


def test_threads_opening_an_empty_database_together_migrate_it_once(backend: Backend) -> None:
    racers = 3
    start = threading.Barrier(racers, timeout=60)
    opened: list[SQLStore] = []
    failed: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            opened.append(open_store(backend.url))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for store in opened:
        store.close()
    assert failed == []
    assert len(opened) == racers
    assert backend.scalar("SELECT count(*) FROM alembic_version") == 1


def test_alembics_command_api_migrates_from_a_url(backend: Backend) -> None:
    url = database_url(backend.url).render_as_string(hide_password=False)
    command.upgrade(alembic_config(url), "head")
    assert backend.scalar("SELECT version_num FROM alembic_version") == HEAD
    store = open_store(backend.url)
    store.close()


def test_offline_mode_renders_the_sql_for_review(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(backend.url).render_as_string(hide_password=False)
    command.upgrade(alembic_config(url), "head", sql=True)
    rendered = capsys.readouterr().out
    assert "CREATE TABLE links" in rendered
    assert "CREATE INDEX ix_links_pair_id_a_href" in rendered
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in rendered
    assert "CREATE TABLE integration_users" in rendered
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in rendered
    assert tables_of(backend) == set()


def test_a_bound_pair_of_0011_shelves_and_takes_up_its_links_after_0012(backend: Backend) -> None:
    with _one_link_at(backend, "0011") as conn:
        conn.execute(update(pairs).values(bound_to="A: a:cal\nB: b:cal"))
    store = open_store(backend.url)
    try:
        with store.open_pair("p") as state:
            rebound = state.bind("A: a:cal\nB: b:other")
            assert rebound is not None and rebound.resumed == 0 and state.links() == {}
        with store.open_pair("p") as state:
            rebound = state.bind("A: a:cal\nB: b:cal")
            assert rebound is not None and rebound.resumed == 1
            assert list(state.links()) == ["uid-1"] and state.links()["uid-1"].kind == "v"
        with store.open_pair("p") as state:
            state.bind("A: a:cal\nB: b:other")
        assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 1
    finally:
        store.close()
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    assert backend.scalar("SELECT COUNT(*) FROM links") == 0  # the shelf went with its table


@pytest.mark.parametrize(
    ("came_back_from", "marks", "downgraded"),
    [
        ("A: a:cal\nB: b:old", "b", "A: a:cal\nB: (away)"),
        ("A: a:old\nB: b:cal", "a", "A: (away)\nB: b:cal"),
        ("an older form", "ab", "A: (away)\nB: (away)"),
    ],
)
def test_0013_marks_the_links_of_a_pair_on_its_way_back_away_from_the_sides_it_came_back_to(
    backend: Backend, came_back_from: str, marks: str, downgraded: str
) -> None:
    """A pair on its way back at 0012 (``came_back_from`` set) keeps undoing the deletions found where it came
    back to: its links in sync are marked away from there, and its tokens go, so that its next run reads both
    sides whole and clears the mark of each item it finds in sync. Other pairs, parked links and the shelf are
    left as they are; a downgrade gives the pair a ``came_back_from`` that tells 0012 the same sides."""
    bound = "A: a:cal\nB: b:cal"
    with _one_link_at(backend, "0012") as conn:
        now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
        conn.execute(
            text("UPDATE pairs SET bound_to = :bound, came_back_from = :back"), {"bound": bound, "back": came_back_from}
        )
        conn.execute(text("UPDATE links SET parked = ''"))  # uid-1 in sync
        other = conn.execute(pairs.insert().values(name="q", created_at=now, bound_to=bound)).inserted_primary_key[0]
        (mine,) = conn.execute(text("SELECT id FROM pairs WHERE name = 'p'")).scalars()
        row = dict.fromkeys(("a_href", "a_version", "a_digest", "b_href", "b_version", "b_digest", "kind"), "v")
        conn.execute(links.insert().values(pair_id=mine, ident="parked", parked="window", updated_at=now, **row))
        conn.execute(links.insert().values(pair_id=other, ident="q-1", parked="", updated_at=now, **row))
        shelf = {"pair_id": mine, "bound_to": "A: a:cal\nB: b:old", "ident": "s-1", "parked": "", "updated_at": now}
        conn.execute(shelved_links.insert().values(**shelf, **row))
        for pair_id in (mine, other):
            conn.execute(sync_tokens.insert().values(pair_id=pair_id, side="b", token="t", updated_at=now))
    store = open_store(backend.url)  # migrates to head
    try:
        with store.open_pair("p") as state:
            assert {ident: link.away for ident, link in state.links().items()} == {"uid-1": marks, "parked": ""}
            assert (state.token(Side.B), state.bind(bound)) == (None, None)
        with store.open_pair("q") as state:
            assert ({i: link.away for i, link in state.links().items()}, state.token(Side.B)) == ({"q-1": ""}, "t")
        assert backend.scalar("SELECT away FROM shelved_links") == ""
    finally:
        store.close()
    with connect(backend) as conn:
        assert "came_back_from" not in {column["name"] for column in inspect(conn).get_columns("pairs")}
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    assert backend.scalar("SELECT came_back_from FROM pairs WHERE name = 'p'") == downgraded
    assert backend.scalar("SELECT came_back_from FROM pairs WHERE name = 'q'") is None
    assert changed_sides(downgraded, bound) == marks


def test_0014_leaves_older_shelves_unstamped_ordered_by_their_links_latest_write(backend: Backend) -> None:
    early, late = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    with _one_link_at(backend, "0013") as conn:
        (mine,) = conn.execute(text("SELECT id FROM pairs WHERE name = 'p'")).scalars()
        conn.execute(text("UPDATE pairs SET bound_to = 'A: x\nB: zero'"))
        row = dict.fromkeys(("a_href", "a_version", "a_digest", "b_href", "b_version", "b_digest", "kind"), "v")
        shelves = (("A: x\nB: one", "1", early), ("A: x\nB: two", "2", late), ("A: x\nB: one", "3", early))
        for bound, ident, at in shelves:
            shelf = {"pair_id": mine, "bound_to": bound, "ident": ident, "parked": "", "away": "", "updated_at": at}
            conn.execute(text(
                "INSERT INTO shelved_links (pair_id, bound_to, ident, parked, away, updated_at, a_href, a_version,"
                " a_digest, b_href, b_version, b_digest, kind) VALUES (:pair_id, :bound_to, :ident, :parked, :away,"
                " :updated_at, :a_href, :a_version, :a_digest, :b_href, :b_version, :b_digest, :kind)"
            ), shelf | row)  # fmt: skip
    store = open_store(backend.url)  # migrates to head
    try:
        assert store.shelved_bindings(["p"]) == {"p": ["A: x\nB: two", "A: x\nB: one"]}
        with store.open_pair("p") as state:
            state.bind("A: x\nB: one")  # the older shelf taken up ...
        with store.open_pair("p") as state:
            state.bind("A: x\nB: three")  # ... and shelved again, stamped now: the latest
        assert store.shelved_bindings(["p"]) == {"p": ["A: x\nB: one", "A: x\nB: zero", "A: x\nB: two"]}
    finally:
        store.close()
    assert backend.scalar("SELECT COUNT(*) FROM shelved_links WHERE shelved_at IS NULL") == 1
    config = alembic_config()
    with connect(backend) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    with connect(backend) as conn:
        assert "shelved_at" not in {column["name"] for column in inspect(conn).get_columns("shelved_links")}
    assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 4
