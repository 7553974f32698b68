"""The business store's journal, read page by page on SQLite and PostgreSQL: every entry once, newest first,
whatever is written between two pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calsync.crypto import Cipher, new_key
from calsync.services.integrations import IntegrationInput, IntegrationService
from calsync.state.admin import open_admin_store
from calsync.state.business import SQLBusinessStore, open_business_store
from calsync.state.business_port import Change, NewJournal
from tests.state.conftest import Backend


@pytest.fixture
def business(backend: Backend) -> Iterator[SQLBusinessStore]:
    admin = open_admin_store(backend.url)
    IntegrationService(admin, Cipher([new_key()], origin="test")).add(
        IntegrationInput(name="acme", company="ACME", connection_type="folder", url="/tmp/unused")
    )
    admin.close()
    opened = open_business_store(backend.url)
    yield opened
    opened.close()


def _entries(business: SQLBusinessStore, *ids: str) -> None:
    made = [NewJournal(b, "tech1", "calendar", Change.UPDATED, "on B", "p", "text/calendar", "", "") for b in ids]
    business.record("acme", made)


def test_the_journal_reads_page_by_page_older_than_an_entry(business: SQLBusinessStore) -> None:
    _entries(business, "A", "B", "A", "B", "A")
    newest = [e.id for e in business.journal("acme", None, 10)]
    assert newest == sorted(newest, reverse=True) and len(newest) == 5
    first = business.journal("acme", None, 2)
    _entries(business, "A")  # written between two pages: the next page neither repeats nor skips an entry
    second = business.journal("acme", None, 2, first[-1].id)
    third = business.journal("acme", None, 2, second[-1].id)
    assert [e.id for e in first + second + third] == newest
    assert business.journal("acme", None, 2, third[-1].id) == []


def test_a_page_of_one_items_journal_holds_only_that_item(business: SQLBusinessStore) -> None:
    _entries(business, "A", "B", "A", "B", "A")
    all_a = business.journal("acme", "A", 10)
    assert [e.business_id for e in all_a] == ["A", "A", "A"]
    older = business.journal("acme", "A", 10, all_a[0].id)
    assert [e.id for e in older] == [e.id for e in all_a[1:]]
    assert business.journal("acme", "nobody", 10, all_a[0].id) == []
