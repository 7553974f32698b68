"""Outlook contacts: Item (with ``ContactInfo``) <-> contact, and one builder per Graph operation (pure).

A collection is ``mailbox`` (the default Contacts folder) or ``mailbox/folder-id``. Contacts carry the business
key and the residue (see ``residue``: Graph has no e-mail types, at most three addresses, three phone slots and
three postal addresses) in the same filterable extended properties events use, so a retried create finds the
first copy and an unchanged contact reads back with the digest it was written with.
https://learn.microsoft.com/en-us/graph/api/resources/contact
https://learn.microsoft.com/en-us/graph/api/resources/extended-properties-overview
"""

from __future__ import annotations

from urllib.parse import quote

from calsync.connectors.graph.operations import EXPAND, KEY_PROPERTY, PAGE
from calsync.connectors.graph.transport import Call, Json
from calsync.model.item import Address, ContactInfo, Item, ItemKind, Typed

_SLOTS = {"work": "businessAddress", "home": "homeAddress", "other": "otherAddress"}


def folder(collection: str) -> str:
    """``/users/{mailbox}/contacts`` or ``/users/{mailbox}/contactFolders/{id}/contacts``."""
    mailbox, _, folder_id = collection.partition("/")
    user = f"/users/{quote(mailbox)}"
    return f"{user}/contactFolders/{quote(folder_id, safe='')}/contacts" if folder_id else f"{user}/contacts"


def _contact(collection: str, contact_id: str) -> str:
    return f"/users/{quote(collection.partition('/')[0])}/contacts/{quote(contact_id, safe='')}"


def list_folders(mailbox: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/user-list-contactfolders"""
    return Call("GET", f"/users/{quote(mailbox)}/contactFolders?$select=id,displayName", headers=PAGE)


def list_contacts(collection: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/user-list-contacts"""
    return Call("GET", f"{folder(collection)}?$select=id", headers=PAGE)


def find_by_key(collection: str, key: str) -> Call:
    """Contacts carrying ``key``. https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get"""
    value = key.replace("'", "''")
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY}' and ep/value eq '{value}')"
    return Call("GET", f"{folder(collection)}?$filter={quote(flt)}&$select=id")


def get_contact(collection: str, contact_id: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/contact-get"""
    return Call("GET", f"{_contact(collection, contact_id)}?$expand={quote(EXPAND)}")


def create_contact(collection: str, body: Json) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/user-post-contacts"""
    return Call("POST", folder(collection), body)


def update_contact(collection: str, contact_id: str, body: Json, etag: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/contact-update (If-Match: the etag last seen)"""
    return Call("PATCH", _contact(collection, contact_id), body, {"If-Match": etag})


def delete_contact(collection: str, contact_id: str, etag: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/contact-delete (If-Match: the etag last seen)"""
    return Call("DELETE", _contact(collection, contact_id), headers={"If-Match": etag})


def to_contact(item: Item) -> Json:
    """The contact body for an item (pure). Graph keeps three e-mail addresses and one address per slot."""
    info = item.contact or ContactInfo()
    phones = {kind: [p.value for p in info.phones if p.kind == kind] for kind in ("work", "home", "cell")}
    body: Json = {
        "displayName": info.full_name or item.title,
        "givenName": info.given_name,
        "surname": info.family_name,
        "companyName": info.organization,
        "jobTitle": info.job_title,
        "emailAddresses": [{"address": e.value, "name": info.full_name} for e in info.emails[:3]],
        "businessPhones": phones["work"] + [p.value for p in info.phones if p.kind not in ("work", "home", "cell")],
        "homePhones": phones["home"],
        "mobilePhone": phones["cell"][0] if phones["cell"] else None,
        "personalNotes": info.note,
        "categories": list(item.categories),
    }
    for address in info.addresses:
        slot = _SLOTS.get(address.kind, "otherAddress")
        body.setdefault(slot, _physical(address))
    return body


def from_contact(contact: Json, uid: str) -> Item:
    """The item a contact holds (pure)."""
    phones = [Typed(str(p), "work") for p in contact.get("businessPhones") or ()]
    phones += [Typed(str(p), "home") for p in contact.get("homePhones") or ()]
    if contact.get("mobilePhone"):
        phones.append(Typed(str(contact["mobilePhone"]), "cell"))
    addresses = tuple(
        _address(contact[slot], kind) for kind, slot in _SLOTS.items() if any((contact.get(slot) or {}).values())
    )
    info = ContactInfo(
        full_name=str(contact.get("displayName") or ""),
        given_name=str(contact.get("givenName") or ""),
        family_name=str(contact.get("surname") or ""),
        organization=str(contact.get("companyName") or ""),
        job_title=str(contact.get("jobTitle") or ""),
        emails=tuple(Typed(str(e.get("address") or "")) for e in contact.get("emailAddresses") or ()),
        phones=tuple(phones),
        addresses=addresses,
        note=str(contact.get("personalNotes") or ""),
    )
    categories = tuple(str(c) for c in contact.get("categories") or ())
    return Item(uid=uid, kind=ItemKind.CONTACT, title=info.full_name, categories=categories, contact=info)


def _physical(address: Address) -> Json:
    return {
        "street": address.street,
        "city": address.city,
        "state": address.region,
        "postalCode": address.postal_code,
        "countryOrRegion": address.country,
    }


def _address(value: Json, kind: str) -> Address:
    return Address(
        street=str(value.get("street") or ""),
        city=str(value.get("city") or ""),
        region=str(value.get("state") or ""),
        postal_code=str(value.get("postalCode") or ""),
        country=str(value.get("countryOrRegion") or ""),
        kind=kind,
    )
