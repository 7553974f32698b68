"""Outlook contacts as a connector: the shared contract with vCards in place of VEVENTs, plus Graph's fields."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from calsync.connectors.base import Connector, Fetched
from calsync.connectors.graph import contacts, operations
from calsync.connectors.graph.connector import GraphConnector
from calsync.model.canonical import VCARD
from calsync.model.content import Content
from calsync.model.item import Address, ContactInfo, Item, ItemKind, Typed
from tests.connectors import contract
from tests.connectors.contract import ConnectorContract
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake import contacts as fake_contacts
from tests.connectors.graph.fake.server import FakeGraph
from tests.samples import contact

Connect = Callable[..., GraphConnector]


def _as_contact(uid: str, title: str = "Visit", **_: object) -> str:
    """The contract's ``event(uid, title, ...)`` as a vCard whose FN is ``title``."""
    return contact(uid, title)


class TestGraphContactsContract(ConnectorContract):
    """The shared contract, its samples swapped for vCards in this class only (the contract itself is unchanged)."""

    refuses_second_identity = False  # Graph keeps any number of items of one identity, and a create finds a
    # retried copy by calsync's key property alone: an item made in Outlook has none

    @pytest.fixture(autouse=True)
    def _fake(self, fake: FakeGraph, connect: Connect, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setattr(contract, "event", _as_contact)
        monkeypatch.setattr(Content, "from_text", _vcard_aware)
        self.fake = fake
        self.connect = connect
        self.collection = new_mailbox(fake)
        yield

    def make(self, *, read_only: bool = False) -> Connector:
        return self.connect(read_only=read_only, mailboxes=[self.collection]).contacts()

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        body = contacts.to_contact(Content(text=text, media_type=VCARD).item)
        with self.fake.lock:
            fake_contacts.put(self.fake.mailboxes[self.collection], fake_contacts.DEFAULT, href, body)

    def remove_external(self, connector: Connector, href: str) -> None:
        with self.fake.lock:
            self.fake.mailboxes[self.collection].contacts.pop(href, None)


def _vcard_aware(text: str, media_type: str = "") -> Content:
    """``Content.from_text`` that tells a vCard by its first line (the contract passes no media type)."""
    return Content(text=text, media_type=media_type or (VCARD if text.startswith("BEGIN:VCARD") else "text/calendar"))


def _full() -> Item:
    info = ContactInfo(
        full_name="Grace Hopper",
        given_name="Grace",
        family_name="Hopper",
        organization="Navy",
        job_title="Rear Admiral",
        emails=(Typed("grace@example.com", "work"), Typed("g@example.org", "home")),
        phones=(Typed("+1 555 0100", "work"), Typed("+1 555 0101", "home"), Typed("+1 555 0102", "cell")),
        addresses=(Address(street="1 Main St", city="Arlington", postal_code="22201", country="US", kind="work"),),
        note="COBOL",
    )
    return Item(uid="cust-9", kind=ItemKind.CONTACT, title="Grace Hopper", categories=("Customer",), contact=info)


def test_contact_fields_round_trip_with_the_key_and_residue(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    book = connect(mailboxes=[mailbox]).contacts()
    content = Content.from_item(_full())
    ref = book.create(mailbox, content, "cust-9")
    stored, _ = fake.mailboxes[mailbox].contacts[ref.href]
    assert (stored["givenName"], stored["surname"], stored["companyName"]) == ("Grace", "Hopper", "Navy")
    assert [e["address"] for e in stored["emailAddresses"]] == ["grace@example.com", "g@example.org"]
    assert (stored["businessPhones"], stored["homePhones"], stored["mobilePhone"]) == (
        ["+1 555 0100"],
        ["+1 555 0101"],
        "+1 555 0102",
    )
    assert stored["businessAddress"]["city"] == "Arlington" and stored["personalNotes"] == "COBOL"
    (got,) = book.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest  # e-mail types kept by the residue


def test_an_outlook_edit_reads_back_as_graph_has_it(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    book = connect(mailboxes=[mailbox]).contacts()
    ref = book.create(mailbox, Content.from_item(_full()), "cust-9")
    fake_contacts.put(fake.mailboxes[mailbox], fake_contacts.DEFAULT, ref.href, {"jobTitle": "Commodore"})
    (got,) = book.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.ref.version != ref.version
    info = got.content.item.contact
    assert info is not None and info.job_title == "Commodore" and got.content.item.uid == "cust-9"


def test_a_second_folder_is_its_own_collection(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    fake.mailboxes[mailbox].contact_folders["f-1"] = {"id": "f-1", "displayName": "Customers"}
    book = connect(mailboxes=[mailbox]).contacts()
    assert {(c.id, c.display_name) for c in book.discover()} == {(mailbox, "Contacts"), (f"{mailbox}/f-1", "Customers")}
    ref = book.create(f"{mailbox}/f-1", Content.from_item(_full()), "cust-9")
    assert book.list(mailbox, None) == [] and book.list(f"{mailbox}/f-1", None) == [ref]
    assert operations.KEY_PROPERTY in str(fake.mailboxes[mailbox].contacts[ref.href][0])


def test_a_contact_whose_key_holds_a_comma_keeps_it_as_its_identity_when_edited_in_outlook(
    fake: FakeGraph, connect: Connect
) -> None:
    """The key is an identity, its comma escaped: the contact read from it must get the UID that identity spells,
    or the vCard escapes the comma a second time once Outlook edits the contact."""
    mailbox = new_mailbox(fake)
    book = connect(mailboxes=[mailbox]).contacts()
    content = Content.from_text(contact("c\\,1", "Ada Lovelace"), VCARD)
    ref = book.create(mailbox, content, content.ident)
    fake_contacts.put(fake.mailboxes[mailbox], fake_contacts.DEFAULT, ref.href, {"jobTitle": "Commodore"})
    (got,) = book.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.ident == "c\\,1" and got.content.item.uid == "c,1"
