"""One item's content in whichever form it arrived, converted on demand and at most once.

Why: most pairs move iCalendar text to an iCalendar store, and passing the text through is both the fastest and
the most faithful thing to do. A connector that speaks another form (Graph JSON, EWS items, the business API) asks
for ``content.item`` and the text is parsed then, once. The digest and facts come from the cheap canonical scan of
the text form, so every side's content is compared in one canonical form.
"""

from __future__ import annotations

from calsync.model.canonical import ICALENDAR, VCARD, Facts, Scan, scan
from calsync.model.item import Item, ItemKind


class Content:
    """An immutable item content: text (iCalendar or vCard), an ``Item``, or both once converted."""

    __slots__ = ("_item", "_scan", "_text", "media_type")

    def __init__(self, *, text: str | None = None, item: Item | None = None, media_type: str = ICALENDAR) -> None:
        if text is None and item is None:
            raise ValueError("content needs text or an item")
        self._text = text
        self._item = item
        self._scan: Scan | None = None
        self.media_type = media_type

    @classmethod
    def from_text(cls, text: str, media_type: str = ICALENDAR) -> Content:
        """Content read from a store as text."""
        return cls(text=text, media_type=media_type)

    @classmethod
    def from_item(cls, item: Item) -> Content:
        """Content built from a model item (its text form follows the kind: vCard for contacts)."""
        return cls(item=item, media_type=VCARD if item.kind is ItemKind.CONTACT else ICALENDAR)

    @property
    def text(self) -> str:
        """The iCalendar or vCard text; serialised from the item the first time it is asked for."""
        if self._text is None:
            assert self._item is not None
            if self.media_type == VCARD:
                from calsync.model.vcard import item_to_vcard

                self._text = item_to_vcard(self._item)
            else:
                from calsync.model.ical import item_to_ical

                self._text = item_to_ical(self._item)
        return self._text

    @property
    def item(self) -> Item:
        """The model item; parsed from the text the first time it is asked for. Raises ``InvalidItem``."""
        if self._item is None:
            if self.media_type == VCARD:
                from calsync.model.vcard import vcard_to_item

                self._item = vcard_to_item(self.text)
            else:
                from calsync.model.ical import ical_to_item

                self._item = ical_to_item(self.text)
        return self._item

    @property
    def awaits_scan(self) -> bool:
        """Whether this content has text that was not scanned yet: what ``adopt_scan`` may fill in."""
        return self._scan is None and self._text is not None

    def adopt_scan(self, scan: Scan) -> bool:
        """Take the scan of this content's text made elsewhere (another process: ``calsync.sync.prescan``);
        returns whether it was taken (a scan already made stays).

        The caller vouches that ``scan`` is ``scan(self.text, self.media_type)``.
        """
        if self._scan is not None:
            return False
        self._scan = scan
        return True

    def scanned(self) -> Scan:
        """Identity, digest and facts of the text form; raises ``InvalidItem`` when it is not one valid item."""
        if self._scan is None:
            self._scan = scan(self.text, self.media_type)
        return self._scan

    @property
    def facts(self) -> Facts:
        """The facts rules and windows need (see ``calsync.model.canonical.Facts``)."""
        return self.scanned().facts

    @property
    def ident(self) -> str:
        """The identity shared across sides (UID)."""
        return self.scanned().facts.ident

    @property
    def digest(self) -> str:
        """A digest equal for contents that differ only in what servers rewrite."""
        return self.scanned().digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Content) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        form = "text" if self._text is not None else "item"
        return f"Content({form}, {self.media_type})"
