"""Exchange contacts (the Contacts folder) as vCards: ``Item`` with ``ContactInfo`` <-> exchangelib ``Contact``.

What an Exchange contact holds of a vCard: display, given and family name, company, job title, three e-mail
slots (no type), one phone per slot (business, home, mobile, other …), a business, a home and an other postal
address, the notes (the item body) and categories. What does not fit (e-mail types, a second phone of one kind,
X- properties) travels in the residue, so an unchanged contact reads back with the digest it was written with.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/contact
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from exchangelib import Contact
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Body as EwsBody

from calsync.connectors.ews.folders import FolderConnector, Kind
from calsync.model.canonical import VCARD
from calsync.model.item import Address, ContactInfo, Item, ItemKind, Typed

_PHONES = {"work": "BusinessPhone", "home": "HomePhone", "cell": "MobilePhone", "fax": "BusinessFax"}
_SPARE_PHONES = ("OtherTelephone", "Business2Phone", "Home2Phone")
_ADDRESSES = {"work": "Business", "home": "Home", "other": "Other"}


def to_fields(item: Item) -> dict[str, Any]:
    """The Contact fields calsync writes for a vCard item (all of them, so an update leaves nothing old)."""
    info = item.contact or ContactInfo(full_name=item.title)
    emails = [EmailAddress(label=f"EmailAddress{n}", email=e.value) for n, e in enumerate(info.emails[:3], 1)]
    return {
        "display_name": info.full_name or item.title or " ".join(p for p in (info.given_name, info.family_name) if p),
        "given_name": info.given_name or None,
        "surname": info.family_name or None,
        "company_name": info.organization or None,
        "job_title": info.job_title or None,
        "email_addresses": emails or None,
        "phone_numbers": _phones(info.phones) or None,
        "physical_addresses": _addresses(info.addresses) or None,
        "body": EwsBody(info.note) if info.note else None,
        "categories": list(item.categories) or None,
    }


def _phones(phones: tuple[Typed, ...]) -> list[PhoneNumber]:
    """One phone per Exchange slot: the kind's slot, else the first spare one free."""
    taken: dict[str, str] = {}
    for phone in phones:
        slot = _PHONES.get(phone.kind.lower())
        if slot is None or slot in taken:
            slot = next((s for s in _SPARE_PHONES if s not in taken), None)
        if slot is not None:
            taken[slot] = phone.value
    return [PhoneNumber(label=slot, phone_number=number) for slot, number in taken.items()]


def _addresses(addresses: tuple[Address, ...]) -> list[PhysicalAddress]:
    found: dict[str, PhysicalAddress] = {}
    for a in addresses:
        label = _ADDRESSES.get(a.kind.lower(), "Other")
        if label not in found:
            found[label] = PhysicalAddress(
                label=label,
                street=a.street or None,
                city=a.city or None,
                state=a.region or None,
                country=a.country or None,
                zipcode=a.postal_code or None,
            )
    return list(found.values())


def from_exchange(contact: Any, uid: str) -> Item:
    """The vCard item an exchangelib ``Contact`` holds."""
    kinds = {v: k for k, v in _PHONES.items()}
    labels = {v: k for k, v in _ADDRESSES.items()}
    emails = sorted(contact.email_addresses or (), key=lambda e: str(e.label))
    phones = sorted(contact.phone_numbers or (), key=lambda p: _phone_order(str(p.label)))
    info = ContactInfo(
        full_name=contact.display_name or "",
        given_name=contact.given_name or "",
        family_name=contact.surname or "",
        organization=contact.company_name or "",
        job_title=contact.job_title or "",
        emails=tuple(Typed(e.email, "") for e in emails if e.email),
        phones=tuple(Typed(p.phone_number, kinds.get(str(p.label), "")) for p in phones if p.phone_number),
        addresses=tuple(_address(a, labels.get(str(a.label), "other")) for a in contact.physical_addresses or ()),
        note=str(contact.body or ""),
    )
    return Item(
        uid=uid, kind=ItemKind.CONTACT, title=info.full_name, categories=tuple(contact.categories or ()), contact=info
    )


def _phone_order(label: str) -> int:
    order = [*_PHONES.values(), *_SPARE_PHONES]
    return order.index(label) if label in order else len(order)


def _address(a: Any, kind: str) -> Address:
    return Address(
        street=a.street or "",
        city=a.city or "",
        region=a.state or "",
        postal_code=a.zipcode or "",
        country=a.country or "",
        kind=kind,
    )


def project(item: Item, fields: dict[str, Any], key: str) -> Item:
    """The contact as Exchange will give it back after writing ``fields``."""
    return replace(from_exchange(SimpleNamespace(**fields), key), kind=ItemKind.CONTACT)


CONTACTS = Kind(
    folder="contacts",
    item_class=Contact,
    components=frozenset({"VCARD"}),
    to_fields=to_fields,
    from_exchange=from_exchange,
    project=project,
    media_type=VCARD,
)


class EwsContactsConnector(FolderConnector):
    """The Contacts folder of each mapped mailbox; built by ``EwsConnector.contacts()`` on the same session."""

    kind = CONTACTS
