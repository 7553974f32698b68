"""Provisioning activity types as Outlook master categories: created once, reused, recoloured only on request."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.graph.categories import Provisioned
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.transport import Call, Json
from calsync.errors import InvalidItem, NotFound, ReadOnly
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.server import FakeGraph

Connect = Callable[..., GraphConnector]
TYPES = {"Installation": "preset4", "Maintenance": "preset7", "Repair": "none"}


def test_categories_are_created_then_reused_without_duplicates(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    first = conn.provision_categories(mailbox, TYPES)
    again = conn.provision_categories(mailbox, TYPES)
    assert [o.outcome for o in first] == [Provisioned.CREATED] * 3
    assert [o.outcome for o in again] == [Provisioned.KEPT] * 3
    assert [o.category_id for o in first] == [o.category_id for o in again]
    stored = {c["displayName"]: c["color"] for c in fake.mailboxes[mailbox].categories}
    assert stored == TYPES


def test_a_users_own_colour_is_kept_unless_recolouring_is_asked(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    fake.mailboxes[mailbox].categories.append({"id": "c1", "displayName": "installation", "color": "preset0"})
    conn = connect(mailboxes=[mailbox])
    kept = conn.provision_categories(mailbox, {"Installation": "preset4"})
    assert (kept[0].outcome, kept[0].colour, kept[0].name) == (Provisioned.KEPT, "preset0", "installation")
    recoloured = conn.provision_categories(mailbox, {"Installation": "preset4"}, recolour=True)
    assert (recoloured[0].outcome, recoloured[0].category_id) == (Provisioned.RECOLOURED, "c1")
    assert fake.mailboxes[mailbox].categories == [{"id": "c1", "displayName": "installation", "color": "preset4"}]


def test_a_category_created_meanwhile_is_reused(
    fake: FakeGraph, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hubs (or a user) race: our POST meets 409 ErrorDuplicateCategoryName and we reuse theirs."""
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    box = fake.mailboxes[mailbox]
    original = conn.transport.call

    def list_then_race(call: Call, who: str, href: str = "") -> Json:
        answer = original(call, who, href)
        if not box.categories:
            box.categories.append({"id": "theirs", "displayName": "Repair", "color": "preset1"})
        return answer

    monkeypatch.setattr(conn.transport, "call", list_then_race)
    outcome = conn.provision_categories(mailbox, {"Repair": "preset2"})
    assert (outcome[0].outcome, outcome[0].category_id) == (Provisioned.KEPT, "theirs")
    assert len(box.categories) == 1


def test_bad_colours_are_refused_before_any_request(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    before = len(fake.seen)
    with pytest.raises(InvalidItem, match="preset25"):
        conn.provision_categories(mailbox, {"Repair": "preset25"})
    assert len(fake.seen) == before and fake.mailboxes[mailbox].categories == []


def test_unknown_mailbox_and_read_only_are_errors(fake: FakeGraph, connect: Connect) -> None:
    with pytest.raises(NotFound):
        connect().provision_categories("nobody@contoso.onmicrosoft.com", TYPES)
    mailbox = new_mailbox(fake)
    with pytest.raises(ReadOnly):
        connect(read_only=True).provision_categories(mailbox, TYPES)
    assert fake.mailboxes[mailbox].categories == []
