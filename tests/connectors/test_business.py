"""The business store as a connector passes the connector contract on the real state database (SQLite here,
PostgreSQL below), and keeps cursors, reassignments and rules-driven versions straight."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.connectors.base import Connector
from calsync.connectors.business import BusinessConnector, collection_id
from calsync.crypto import Cipher, new_key
from calsync.model.content import Content
from calsync.model.mapping import MappingRules
from calsync.services.integrations import IntegrationInput, IntegrationService
from calsync.state.admin import open_admin_store
from calsync.state.business import SQLBusinessStore, open_business_store
from calsync.state.business_port import BusinessRow
from tests.connectors.contract import ConnectorContract
from tests.samples import event


def _store(url: str) -> SQLBusinessStore:
    admin = open_admin_store(url)
    IntegrationService(admin, Cipher([new_key()], origin="test")).add(
        IntegrationInput(name="acme", company="ACME", connection_type="folder", url="/tmp/unused")
    )
    admin.close()
    return open_business_store(url)


def _put(connector: Connector, collection: str, href: str, text: str) -> None:
    assert isinstance(connector, BusinessConnector)
    owner, _, name = collection.rpartition("/")
    content = Content.from_text(text)
    row = BusinessRow(href, content.ident, owner, name, "event", content.media_type, text)
    connector.store.put("acme", [row])


class TestBusinessContract(ConnectorContract):
    collection = collection_id("tech1", "events")

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> Iterator[None]:
        self.store = _store(str(tmp_path / "state.db"))
        yield
        self.store.close()

    def make(self, *, read_only: bool = False) -> Connector:
        return BusinessConnector(self.store, "acme", read_only=read_only)

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        _put(connector, self.collection, href, text)

    def remove_external(self, connector: Connector, href: str) -> None:
        assert isinstance(connector, BusinessConnector)
        connector.store.remove("acme", [href])


@pytest.mark.postgres
class TestBusinessContractOnPostgreSQL(TestBusinessContract):
    @pytest.fixture(autouse=True)
    def _database(self, postgres_url: str) -> Iterator[None]:  # type: ignore[override]
        self.store = _store(postgres_url)
        yield
        self.store.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLBusinessStore]:
    opened = _store(str(tmp_path / "state.db"))
    yield opened
    opened.close()


def test_a_reassigned_item_leaves_one_collection_and_enters_the_other(store: SQLBusinessStore) -> None:
    conn = BusinessConnector(store, "acme")
    one, two = collection_id("tech1", "events"), collection_id("tech2", "events")
    _put(conn, one, "A1", event("a1"))
    tokens = {c: conn.changes(c, None).token for c in (one, two)}
    _put(conn, two, "A1", event("a1"))
    assert list(conn.changes(one, tokens[one]).deleted) == ["A1"]
    assert [r.href for r in conn.changes(two, tokens[two]).changed] == ["A1"]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_deleted_answers_for_the_business_systems_own_deletions_in_that_collection_only(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What a pair takes as deleted on the business side when it finds a copy it has no link for: items of its
    own collection the business system deleted, with the digest of what it served last; not a live one, not
    another user's, not one deleted and put back, not one a calendar deleted (put back there, it is imported)."""
    url = str(tmp_path / "state.db") if database == "sqlite" else request.getfixturevalue("postgres_url")
    opened = _store(url)
    try:
        conn = BusinessConnector(opened, "acme")
        mine, theirs = collection_id("tech1", "events"), collection_id("tech2", "events")
        for href in ("A1", "A2", "A3", "A4"):
            _put(conn, mine, href, event(href.lower()))
        _put(conn, theirs, "B1", event("b1"))
        served = {ref.href: ref for ref in conn.list(mine, None)}
        conn.delete(mine, served["A4"])  # the calendar's deletion, taken in
        opened.remove("acme", ["A1", "A3", "B1"])
        _put(conn, mine, "A3", event("a3"))  # deleted, then put back
        uid = {h: Content.from_text(event(h.lower())).ident for h in ("A1", "A2", "A3", "A4", "B1")}
        assert conn.deleted(mine, list(uid.values())) == {uid["A1"]: Content.from_text(event("a1")).digest}
        assert conn.deleted(theirs, [uid["B1"], uid["A1"]]) == {uid["B1"]: Content.from_text(event("b1")).digest}
        assert conn.deleted(collection_id("tech3", "events"), list(uid.values())) == {}
    finally:
        opened.close()


def test_changed_mappings_change_every_version_so_items_are_exported_again(store: SQLBusinessStore) -> None:
    _put(BusinessConnector(store, "acme"), collection_id("tech1", "events"), "A1", event("a1"))
    before = BusinessConnector(store, "acme").list(collection_id("tech1", "events"), None)
    after = BusinessConnector(store, "acme", mapping=MappingRules(marker="From ERP")).list(
        collection_id("tech1", "events"), None
    )
    assert before[0].href == after[0].href and before[0].version != after[0].version


def test_an_unknown_collection_is_not_found(store: SQLBusinessStore) -> None:
    from calsync.errors import NotFound

    with pytest.raises(NotFound):
        BusinessConnector(store, "acme").changes("tech1/holidays", None)
