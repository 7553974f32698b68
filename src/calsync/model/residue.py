"""Keeping the digest stable: what a store cannot hold travels in an extended property, guarded by a signature.

Exchange (EWS) and Microsoft 365 (Graph) hold less than iCalendar: one body form, three importance levels, Windows
zones, no X- properties, no business extras, and calsync writes no attendees (that would send invitations).
Writing an item and reading it back would then give another digest, and every run would see a change
(ping-pong). So on write the connector computes the *projection* (the item as the store will give it back) and,
when its digest differs from the content's, stores the residue property ``<projection digest>\\n<the original
text>``. On read:

- projection unchanged (its digest equals the signature): the original text is returned, digest and all;
- changed in Outlook: the projection is returned, with what the store has no field for at all taken over from
  the original (kind, business extras, unknown properties), so an Outlook edit wins for every field it can touch
  and loses nothing it cannot.

Protocol-free, so it lives in the model: each connector that keeps a residue property calls it.
"""

from __future__ import annotations

from dataclasses import replace

from calsync.errors import InvalidItem
from calsync.model.canonical import ICALENDAR
from calsync.model.content import Content
from calsync.model.item import Item

_NONE = "-"


def encode(content: Content, projection: Item, *, keep: bool = False) -> str:
    """The residue property's value for writing ``content`` whose projection is ``projection``; ``keep`` stores
    the text even when nothing is lost, for a connector that reads part of the item back from it (``written``)."""
    signature = Content.from_item(projection).digest
    if signature == content.digest and not keep:
        return _NONE
    return f"{signature}\n{content.text}"


def written(value: str, media_type: str = ICALENDAR) -> Item | None:
    """The item as last written, from its residue property; ``None`` when the property keeps no text."""
    if not value or value == _NONE:
        return None
    try:
        return Content.from_text(value.partition("\n")[2], media_type).item
    except InvalidItem:
        return None


def decode(value: str, projection: Item, media_type: str = ICALENDAR) -> Content:
    """The content an event (or, with ``media_type`` vCard, a contact) holds, given its projection and its residue
    property (``""`` when absent)."""
    plain = Content.from_item(projection)
    if not value or value == _NONE:
        return plain
    signature, _, text = value.partition("\n")
    if signature == plain.digest:
        return Content.from_text(text, media_type)
    try:
        original = Content.from_text(text, media_type).item
    except InvalidItem:
        return plain
    return Content.from_item(replace(projection, kind=original.kind, extras=original.extras, unknown=original.unknown))


def projection_signed(value: str, projection: Item, ident: str) -> Item:
    """The projection to decode ``value`` against, for an item read under the identity ``ident``: ``projection``
    itself, or the one written before the UID was spelled by ``calsync.model.uids`` when the signature is that one's.

    Why: calsync once gave the projection the key itself as its UID, so a key holding an escape (a comma, say) was
    escaped a second time in it, and its signature is that projection's digest. Without this, such an event,
    unchanged since, would read as changed in Outlook: its projection, not the text written, once after the upgrade.
    """
    if not value or value == _NONE or projection.uid == ident:
        return projection
    signature = value.partition("\n")[0]
    if signature == Content.from_item(projection).digest:
        return projection
    overrides = tuple(replace(one, uid=ident) for one in projection.overrides)
    earlier = replace(projection, uid=ident, overrides=overrides)
    try:
        return earlier if signature == Content.from_item(earlier).digest else projection
    except InvalidItem:
        return projection
