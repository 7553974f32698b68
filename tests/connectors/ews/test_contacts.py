"""Exchange contacts as a connector: the shared contract with vCards in place of VEVENTs, plus what a contact
holds (names, company, e-mail slots, phones by kind, postal addresses, notes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from calsync.connectors.base import Connector, Fetched
from calsync.connectors.ews.connector import EwsConnector
from calsync.model.canonical import VCARD
from calsync.model.content import Content
from tests.connectors import contract
from tests.connectors.contract import ConnectorContract
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.connectors.ews.fake.soap import t
from tests.samples import contact

RICH = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c-rich\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nORG:Analytical Engines\r\n"
    "TITLE:Engineer\r\nEMAIL;TYPE=WORK:ada@example.com\r\nEMAIL;TYPE=HOME:ada@home.example\r\n"
    "TEL;TYPE=WORK:+44 20 1234\r\nTEL;TYPE=CELL:+44 77 5678\r\n"
    "ADR;TYPE=WORK:;;12 St James's Square;London;;SW1Y 4LB;United Kingdom\r\nNOTE:Prefers mornings\r\n"
    "END:VCARD\r\n"
)


def _as_contact(uid: str, title: str = "Visit", **_: object) -> str:
    """The contract's ``event(uid, title)`` as a vCard named ``title``."""
    return contact(uid, title)


class TestEwsContactsContract(ConnectorContract):
    """The shared contract with vCards (the contract itself is unchanged)."""

    refuses_second_identity = False  # Exchange keeps any number of items of one identity, and a create finds a
    # retried copy by calsync's key property alone: an item made in Outlook has none

    @pytest.fixture(autouse=True)
    def _fake(
        self, fake: FakeEws, connect: Callable[..., EwsConnector], monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[None]:
        monkeypatch.setattr(contract, "event", _as_contact)
        monkeypatch.setattr(Content, "from_text", _vcard_aware)
        self.fake = fake
        self.connect = connect
        self.collection = new_mailbox(fake)
        yield

    def make(self, *, read_only: bool = False) -> Connector:
        return self.connect(read_only=read_only, mailboxes=[self.collection]).contacts()

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        outlook.put(self.fake, self.collection, href, text, folder="contacts")

    def remove_external(self, connector: Connector, href: str) -> None:
        outlook.remove(self.fake, self.collection, href)


def _vcard_aware(text: str, media_type: str = "") -> Content:
    """``Content.from_text`` that tells a vCard by its first line (the contract passes no media type)."""
    return Content(text=text, media_type=media_type or (VCARD if text.startswith("BEGIN:VCARD") else "text/calendar"))


def test_what_exchange_holds_for_a_contact(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    contacts = connect(mailboxes=[mailbox]).contacts()
    content = Content.from_text(RICH, VCARD)
    ref = contacts.create(mailbox, content, "c-rich")
    stored = fake.store.items[ref.href]
    assert stored.folder == "contacts" and stored.value("DisplayName") == "Ada Lovelace"
    assert stored.value("CompanyName") == "Analytical Engines" and stored.value("Surname") == "Lovelace"
    emails = {e.get("Key"): e.text for e in stored.element.iterfind(f"{t('EmailAddresses')}/{t('Entry')}")}
    assert emails == {"EmailAddress1": "ada@example.com", "EmailAddress2": "ada@home.example"}
    phones = {e.get("Key"): e.text for e in stored.element.iterfind(f"{t('PhoneNumbers')}/{t('Entry')}")}
    assert phones == {"BusinessPhone": "+44 20 1234", "MobilePhone": "+44 77 5678"}
    (got,) = contacts.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest


def test_an_update_keeps_every_slot_it_writes(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    contacts = connect(mailboxes=[mailbox]).contacts()
    ref = contacts.create(mailbox, Content.from_text(RICH, VCARD), "c-rich")
    changed = Content.from_text(RICH.replace("+44 77 5678", "+44 77 9999").replace("Engineer", "Mathematician"), VCARD)
    contacts.update(mailbox, ref, changed)
    (got,) = contacts.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == changed.digest
    info = got.content.item.contact
    assert info is not None and info.job_title == "Mathematician"
    assert [p.value for p in info.phones] == ["+44 20 1234", "+44 77 9999"]
    assert [e.value for e in info.emails] == ["ada@example.com", "ada@home.example"]


def test_a_contact_whose_key_holds_a_comma_keeps_it_as_its_identity_when_edited_in_outlook(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    """A contact is read under its key, an identity already: the item built from it must get the UID that
    identity spells, or the vCard escapes the comma a second time once Outlook edits the contact."""
    mailbox = new_mailbox(fake)
    contacts = connect(mailboxes=[mailbox]).contacts()
    content = Content.from_text(contact("c\\,1", "Ada Lovelace"), VCARD)
    ref = contacts.create(mailbox, content, content.ident)
    outlook.put(fake, mailbox, ref.href, contact("ignored", "Ada King"), folder="contacts")
    (got,) = contacts.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.ident == "c\\,1" and got.content.facts.title == "Ada King"
