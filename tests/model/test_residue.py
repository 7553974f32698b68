"""The residue property: what a store cannot hold comes back from it, and an edit made in the store still wins."""

from __future__ import annotations

from dataclasses import replace

from calsync.model import residue
from calsync.model.content import Content
from tests.samples import event


def _projection(content: Content) -> Content:
    """What a store that keeps no X- properties would give back."""
    return Content.from_item(replace(content.item, unknown=()))


def test_content_the_store_holds_whole_needs_no_residue() -> None:
    plain = Content.from_item(Content.from_text(event("e1")).item)
    assert residue.encode(plain, plain.item) == "-"
    assert residue.decode("-", plain.item).digest == plain.digest


def test_what_the_store_drops_comes_back_until_the_store_changes_the_item() -> None:
    original = Content.from_text(event("e1", extra="X-CALSYNC-ORDER:4711\r\n"))
    projection = _projection(original).item
    stored = residue.encode(original, projection)
    assert stored != "-"
    assert residue.decode(stored, projection).digest == original.digest  # unchanged: the original, digest and all
    edited = residue.decode(stored, replace(projection, title="Moved by the technician"))
    assert edited.item.title == "Moved by the technician"  # the store's edit wins ...
    assert edited.item.unknown == original.item.unknown  # ... and loses nothing the store cannot hold


def test_an_unreadable_residue_gives_the_projection() -> None:
    projection = Content.from_text(event("e1")).item
    assert residue.decode("sig\nnot iCalendar", projection).digest == Content.from_item(projection).digest


def test_a_kept_residue_gives_back_the_item_as_written() -> None:
    """A connector that reads part of a series back from what it wrote (Graph, for exceptions outside the range it
    reads) keeps the text even when the store holds the item whole."""
    plain = Content.from_item(Content.from_text(event("e1")).item)
    stored = residue.encode(plain, plain.item, keep=True)
    assert stored != "-"
    assert residue.decode(stored, plain.item).digest == plain.digest
    written = residue.written(stored)
    assert written is not None and Content.from_item(written).digest == plain.digest
    assert (
        residue.written("-") is None and residue.written("") is None and residue.written("sig\nnot iCalendar") is None
    )


def test_a_residue_signed_with_the_key_as_uid_is_still_the_written_one() -> None:
    """Signed before the key was read as an identity (the key was the projection's UID, escaped again): the text
    written comes back while the store has not changed the item, and the store's edit wins once it has."""
    original = Content.from_text(event("b\\,1", extra="X-CALSYNC-ORDER:4711\r\n"))
    projection = _projection(original).item
    assert projection.uid == "b,1"
    earlier = replace(projection, uid=original.ident)
    stored = residue.encode(original, earlier)
    kept = residue.decode(stored, residue.projection_signed(stored, projection, original.ident))
    assert kept.digest == original.digest
    moved = replace(projection, title="Moved")
    edited = residue.decode(stored, residue.projection_signed(stored, moved, original.ident))
    assert edited.item.title == "Moved" and edited.ident == original.ident
    signed_now = residue.encode(original, projection)
    assert residue.projection_signed(signed_now, projection, original.ident) is projection
