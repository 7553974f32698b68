"""Item <-> vCard 3.0 and 4.0: the vCards of tests/data/vcard (see SOURCES.md), bad input, random contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from calsync.errors import InvalidItem
from calsync.model.item import Address, ContactInfo, Item, ItemKind, Typed
from calsync.model.vcard import item_to_vcard, vcard_to_item
from tests.model.strategies import contacts

DATA = Path(__file__).parents[1] / "data" / "vcard"
GOOD = ["apple_style_v3.vcf", "google_style_v3.vcf", "sabre_style_v3.vcf", "rfc6350_style_v4.vcf"]
BAD = {
    "no_uid_v4.vcf": "no UID",
    "two_cards_v3.vcf": "more than one vCard",
    "bad_rev_v3.vcf": "REV",
    "truncated_v3.vcf": "not readable",
}


def read(file: str) -> Item:
    return vcard_to_item((DATA / file).read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", ["3.0", "4.0"])
@pytest.mark.parametrize("file", GOOD)
def test_reading_is_a_fixed_point_in_either_version(file: str, version: str) -> None:
    item = read(file)
    text = item_to_vcard(item, version)  # type: ignore[arg-type]
    assert vcard_to_item(text) == item
    lines = text.split("\r\n")
    assert lines[:2] == ["BEGIN:VCARD", f"VERSION:{version}"]  # RFC 6350: VERSION right after BEGIN
    assert all(len(line.encode()) <= 75 for line in lines)


def test_an_apple_style_card() -> None:
    item = read("apple_style_v3.vcf")
    assert (item.kind, item.uid, item.title) == (
        ItemKind.CONTACT,
        "7C3A9F0E-5B1D-4E2A-9C61-0D8E2F4B7A13",
        "Maja Lindqvist",
    )
    assert item.contact == ContactInfo(
        full_name="Maja Lindqvist",
        given_name="Maja",
        family_name="Lindqvist",
        organization="Lindqvist Haustechnik GmbH",
        job_title="Projektleiterin",
        emails=(Typed("maja.lindqvist@haustechnik.example", "work,pref"), Typed("maja@example.org", "home")),
        phones=(Typed("+49 171 5550123", "cell,voice,pref"), Typed("+49 30 5550 4410", "work,voice")),
        addresses=(Address("Gneisenaustraße 12", "Berlin", "", "10961", "Deutschland", kind="work,pref"),),
        note="Schlüssel liegt beim Hausmeister, Hintereingang benutzen.\nTermine nur vormittags.",
    )
    assert item.categories == ("Kunden", "Berlin")
    assert item.last_modified == datetime(2026, 3, 14, 9, 21, 7, tzinfo=UTC)
    # grouped and client-specific lines are kept exactly as read
    assert "item1.X-ABADR:de" in item.unknown
    assert "item2.X-ABLabel:_$!<HomePage>!$_" in item.unknown
    assert "X-ABUID:7C3A9F0E-5B1D-4E2A-9C61-0D8E2F4B7A13:ABPerson" in item.unknown


def test_a_version_4_card() -> None:
    item = read("rfc6350_style_v4.vcf")
    assert item.contact is not None
    assert item.contact.phones == (
        Typed("+353-87-555-0142", "voice,cell,pref"),
        Typed("+353-1-555-0100", "work"),
    )
    (address,) = item.contact.addresses
    assert address.label == "Unit 4, Parkway Business Centre\nBallymount Road\nDublin 12 D12 X2F3\nIreland"
    assert address.street == "Unit 4, Parkway Business Centre"
    assert {"KIND:individual", "GEO:geo:53.3142,-6.3566", "TZ:Europe/Dublin"} <= set(item.unknown)


def test_structured_values_with_escapes_and_post_office_boxes() -> None:
    item = read("sabre_style_v3.vcf")
    assert item.contact is not None
    assert item.contact.full_name == "Dr. Ana Souza, PhD"
    assert (item.contact.family_name, item.contact.given_name) == ("Souza", "Ana")
    assert item.contact.organization == "Clínica Vila Madalena"
    assert item.contact.addresses[0].street == "Caixa Postal 77\nSala 4\nRua Harmonia 1020"


def test_written_types_follow_the_version() -> None:
    item = read("apple_style_v3.vcf")
    v3 = item_to_vcard(item, "3.0")
    v4 = item_to_vcard(item, "4.0")
    assert "EMAIL;TYPE=WORK,PREF:maja.lindqvist@haustechnik.example" in v3
    assert "EMAIL;TYPE=work;PREF=1:maja.lindqvist@haustechnik.example" in v4
    assert "REV:20260314T092107Z" in v4


@pytest.mark.parametrize(("file", "reason"), BAD.items())
def test_bad_cards_raise_invalid_item(file: str, reason: str) -> None:
    with pytest.raises(InvalidItem, match=reason):
        read(file)


@pytest.mark.parametrize("text", ["", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "FN:no card around me\r\n"])
def test_text_that_is_no_vcard_raises_invalid_item(text: str) -> None:
    with pytest.raises(InvalidItem):
        vcard_to_item(text)


def test_an_unknown_version_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"2\.1"):
        item_to_vcard(Item("x", kind=ItemKind.CONTACT), "2.1")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contacts())
def test_random_contacts_survive_both_versions_unchanged(item: Item) -> None:
    assert vcard_to_item(item_to_vcard(item, "3.0")) == item
    assert vcard_to_item(item_to_vcard(item, "4.0")) == item


# -- mapped lines that say more than the model holds ----------------------------------------------------------

CARD = "\r\n".join([
    "BEGIN:VCARD", "VERSION:3.0", "UID:c1", "FN:Dr. John Quinlan Public Esq.", "N:Public;John;Quinlan;Dr.;Esq.",
    "ORG:ABC\\, Inc.;North American Division;Marketing", "FN;LANGUAGE=en:J. Q. Public",
    "item1.EMAIL;type=INTERNET:j@example.com", "item1.X-ABLabel:_$!<Other>!$_", "EMAIL;PREF=2:second@example.com",
    "END:VCARD", "",
])  # fmt: skip
"""RFC 2426's example name, RFC 6350's ORG, and Apple's grouped e-mail with its label."""


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_what_the_model_does_not_hold_of_a_mapped_line_is_written_back_as_read(version: str) -> None:
    # the model keeps family and given name, the first ORG unit, no groups: the rest was lost on every write
    item = vcard_to_item(CARD)
    assert item.contact is not None
    assert (item.contact.family_name, item.contact.given_name, item.contact.organization) == (
        "Public",
        "John",
        "ABC, Inc.",
    )
    written = item_to_vcard(item, version)  # type: ignore[arg-type]
    lines = written.split("\r\n")
    for line in CARD.split("\r\n")[3:-2]:
        assert line in lines
    assert [line for line in lines if line.startswith("N:")] == ["N:Public;John;Quinlan;Dr.;Esq."]
    assert vcard_to_item(written) == item


def test_a_kept_line_the_contact_no_longer_matches_gives_way_to_the_model() -> None:
    # edited elsewhere: the new name and the remaining e-mail are what a reader gets
    from dataclasses import replace

    item = vcard_to_item(CARD)
    assert item.contact is not None
    contact = replace(item.contact, family_name="Doe", emails=item.contact.emails[1:])
    written = item_to_vcard(replace(item, contact=contact))
    lines = written.split("\r\n")
    assert [line for line in lines if line.startswith("N:")] == ["N:Doe;John;;;"]  # one N, never the stale one too
    assert not any("j@example.com" in line for line in lines)  # a removed e-mail is not written from the kept line
    assert "EMAIL;PREF=2:second@example.com" in lines
    assert vcard_to_item(written).contact == contact
