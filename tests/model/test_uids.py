"""An identity and its UID: the spelling ``Content.ident`` gives a written item, and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from calsync.errors import InvalidItem
from calsync.model.content import Content
from calsync.model.item import Item, ItemKind
from calsync.model.uids import ident_of_uid, uid_of_ident

TRICKY = ["plain", "a,b", "a;b", "a\\b", "a\\,b", "a\nb", "a\r\nb", "a\rb", "a\\Nb", "a\\nb", " pad ", "\tx\t", "a:b"]


def _written(uid: str, kind: ItemKind = ItemKind.EVENT) -> Content:
    """An item with ``uid`` as the writer writes it, read back as text."""
    start = datetime(2030, 6, 1, 9, tzinfo=UTC)
    item = Item(uid, kind=kind, title="visit", start=start, end=start.replace(hour=10))
    return Content.from_text(Content.from_item(item).text)


@pytest.mark.parametrize("uid", TRICKY)
def test_the_identity_of_a_uid_is_the_one_the_written_item_has(uid: str) -> None:
    assert _written(uid).ident == ident_of_uid(uid)


def test_the_identity_is_the_uid_escaped_as_text() -> None:
    assert ident_of_uid("visit,42") == "visit\\,42"
    assert ident_of_uid("a\\b;c\nd") == "a\\\\b\\;c\\nd"
    assert uid_of_ident("visit\\,42") == "visit,42"
    assert uid_of_ident("a\\\\b\\;c\\nd") == "a\\b;c\nd"


def test_a_task_is_spelled_the_same_way() -> None:
    assert _written("t,1", ItemKind.TASK).ident == ident_of_uid("t,1")


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@given(_TEXT)
@example("\ufeffab")
@example(" \u2028x\x85")
def test_every_uid_written_has_the_identity_ident_of_uid_gives(uid: str) -> None:
    try:
        written = _written(uid)
        ident = written.ident
    except InvalidItem:  # nothing but white space: no UID
        assert not ident_of_uid(uid)
        return
    assert ident == ident_of_uid(uid)


@given(_TEXT)
def test_the_uid_of_an_identity_is_written_under_that_identity(uid: str) -> None:
    ident = ident_of_uid(uid)
    if not ident or ident.startswith("\ufeff"):  # no UID; a mark the writer drops
        return
    assert ident_of_uid(uid_of_ident(ident)) == ident
    assert _written(uid_of_ident(ident)).ident == ident


def test_a_uid_no_text_can_hold_still_has_an_identity() -> None:
    assert ident_of_uid("a\ud800,b") == "a\ud800\\,b"
