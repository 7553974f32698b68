"""What a response carries of an item: the ItemShape asked for, server fields, occurrences of a series.

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/itemshape
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendaritemtype
"""

from __future__ import annotations

import copy

from lxml import etree

from tests.connectors.ews.fake import series
from tests.connectors.ews.fake.soap import Element, t
from tests.connectors.ews.fake.store import ITEM_TAGS, Stored

_SERVER_ONLY = ("ItemId", "Recurrence", "ModifiedOccurrences", "DeletedOccurrences", "CalendarItemType")
_CLASSES = {"calendar": "IPM.Appointment", "tasks": "IPM.Task", "contacts": "IPM.Contact"}


class Shape:
    """Which fields to return: IdOnly plus the additional properties, or everything but extended ones."""

    def __init__(self, shape: Element | None) -> None:
        base = shape.findtext(t("BaseShape")) if shape is not None else "IdOnly"
        if base is None and shape is not None:
            base = shape.findtext("{http://schemas.microsoft.com/exchange/services/2006/types}BaseShape")
        self.everything = (base or "IdOnly") != "IdOnly"
        self.fields: set[str] = set()
        self.extended: list[Element] = []
        extra = shape.find(t("AdditionalProperties")) if shape is not None else None
        for node in extra if extra is not None else ():
            if node.tag == t("ExtendedFieldURI"):
                self.extended.append(node)
            elif node.tag == t("IndexedFieldURI"):
                self.fields.add(indexed_container(node.get("FieldURI", "")))
            elif node.get("FieldURI"):
                self.fields.add(node.get("FieldURI", "").split(":")[-1])

    def keeps(self, node: Element) -> bool:
        name = etree.QName(node).localname
        if name == "ExtendedProperty":
            uri = node.find(t("ExtendedFieldURI"))
            return any(_same(uri, wanted) for wanted in self.extended)
        return self.everything or name in self.fields


def indexed_container(field_uri: str) -> str:
    """The element holding an indexed field's entries: ``contacts:PhysicalAddress:Street`` -> PhysicalAddresses."""
    name = field_uri.split(":")[1]
    return name + ("es" if name.endswith("ss") else "s")


def _same(a: Element | None, b: Element) -> bool:
    if a is None:
        return False
    names = ("DistinguishedPropertySetId", "PropertySetId", "PropertyName", "PropertyId", "PropertyTag")
    return all((a.get(n) or "").lower() == (b.get(n) or "").lower() for n in names)


def render(stored: Stored, shape: Shape) -> Element:
    """A stored single item or series master as a response carries it."""
    full = _server_fields(stored, copy.deepcopy(stored.element))
    if series.is_series(stored):
        _occurrence_lists(stored, full)
    return _filtered(full, shape, stored.id, stored.change_key)


def render_occurrence(stored: Stored, original: str, shape: Shape) -> Element:
    """One occurrence (or exception) of a series, with its own id and its master's change key."""
    changed = stored.modified.get(original)
    full = copy.deepcopy(changed if changed is not None else stored.element)
    for name in _SERVER_ONLY:
        for node in full.findall(t(name)):
            full.remove(node)
    start, end = series.span(stored, original)
    _replace(full, "Start", series.stamp(start))
    _replace(full, "End", series.stamp(end))
    _replace(full, "OriginalStart", original)
    _replace(full, "RecurrenceId", original)
    _replace(full, "CalendarItemType", "Exception" if changed is not None else "Occurrence")
    _replace(full, "IsRecurring", "true")
    full = _server_fields(stored, full, typed=False)
    return _filtered(full, shape, series.occurrence_id(stored.id, original), stored.change_key)


def _server_fields(stored: Stored, full: Element, *, typed: bool = True) -> Element:
    _replace(full, "ItemClass", _CLASSES[stored.folder])
    _replace(full, "DateTimeCreated", "2026-11-01T08:00:00Z")
    _replace(full, "LastModifiedTime", "2026-11-01T08:00:00Z")
    etree.SubElement(full, t("ParentFolderId"), Id=f"folder-{stored.folder}", ChangeKey="AQAAAA==")
    if stored.folder == "calendar":
        _meeting_fields(stored, full)
    if stored.folder == "calendar" and typed:
        recurring = series.is_series(stored)
        _replace(full, "CalendarItemType", "RecurringMaster" if recurring else "Single")
        _replace(full, "IsRecurring", "true" if recurring else "false")
    return full


def _meeting_fields(stored: Stored, full: Element) -> None:
    """IsMeeting (it has attendees), the Organizer (the mailbox, unless an invitation named another) and
    MyResponseType (Organizer for the mailbox's own items)."""
    meeting = any(full.find(t(n)) is not None for n in ("RequiredAttendees", "OptionalAttendees", "Resources"))
    _replace(full, "IsMeeting", "true" if meeting else "false")
    if full.find(t("Organizer")) is None:
        organizer = etree.SubElement(etree.SubElement(full, t("Organizer")), t("Mailbox"))
        etree.SubElement(organizer, t("EmailAddress")).text = stored.mailbox
    mine = full.findtext(f"{t('Organizer')}/{t('Mailbox')}/{t('EmailAddress')}") == stored.mailbox
    if mine or full.find(t("MyResponseType")) is None:
        _replace(full, "MyResponseType", "Organizer" if mine else "NoResponseReceived")


def _occurrence_lists(stored: Stored, full: Element) -> None:
    if stored.modified:
        modified = etree.SubElement(full, t("ModifiedOccurrences"))
        for original in sorted(stored.modified):
            start, end = series.span(stored, original)
            one = etree.SubElement(modified, t("Occurrence"))
            etree.SubElement(
                one, t("ItemId"), Id=series.occurrence_id(stored.id, original), ChangeKey=stored.change_key
            )
            etree.SubElement(one, t("Start")).text = series.stamp(start)
            etree.SubElement(one, t("End")).text = series.stamp(end)
            etree.SubElement(one, t("OriginalStart")).text = original
    if stored.removed:
        deleted = etree.SubElement(full, t("DeletedOccurrences"))
        for original in sorted(stored.removed):
            etree.SubElement(etree.SubElement(deleted, t("DeletedOccurrence")), t("Start")).text = original


def _filtered(full: Element, shape: Shape, ident: str, change_key: str) -> Element:
    out = etree.Element(full.tag)
    etree.SubElement(out, t("ItemId"), Id=ident, ChangeKey=change_key)
    for node in full:
        if etree.QName(node).localname != "ItemId" and shape.keeps(node):
            out.append(copy.deepcopy(node))
    return out


def _replace(full: Element, name: str, value: str) -> None:
    for node in full.findall(t(name)):
        full.remove(node)
    etree.SubElement(full, t(name)).text = value


SUMMARY_CHARACTERS = 255
_CUT = ("UID", "ExtendedProperty")


def summary(item: Element) -> Element:
    """An item as FindItem answers it: "FindItem returns only the first 512 bytes of any streamable property. For
    Unicode, it returns the first 255 characters"
    (https://learn.microsoft.com/en-us/previous-versions/office/developer/exchange-server-2007/aa566107(v=exchg.80)).
    SyncFolderItems answers so too: "SyncFolderItems is similar to the FindItem operation in that it cannot return
    properties like Body or Attachments"
    (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation),
    a reading of that page on the safe side. Only the strings calsync reads from a summary are cut: the UID and
    extended properties."""
    for name in _CUT:
        for node in item.iter(t(name)):
            target = node.find(t("Value")) if name == "ExtendedProperty" else node
            if target is not None and target.text and len(target.text) > SUMMARY_CHARACTERS:
                target.text = target.text[:SUMMARY_CHARACTERS]
    return item


def id_only(stored: Stored) -> Element:
    out = etree.Element(t(ITEM_TAGS[stored.folder]))
    etree.SubElement(out, t("ItemId"), Id=stored.id, ChangeKey=stored.change_key)
    return out
