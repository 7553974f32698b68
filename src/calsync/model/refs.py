"""Small values that name items and collections on one side."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ItemRef:
    """Where an item lives on one side and which version of it was seen.

    ``href`` is the side's own address (a file name, a CalDAV href, an Exchange item id); ``version`` is what a
    guarded write sends back (an etag, a changekey, a content hash). Two refs with equal href and version name the
    same content.

    ``digest`` is set only by a write whose side stored the item in another form than it was given (the business
    side adds the integration's default activity type on import, say): the digest of what the side now serves, so
    the engine records what it will read back instead of what it sent. Empty otherwise; never compared.
    """

    href: str
    version: str
    digest: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """One calendar, task list or address book as a connector can reach it."""

    id: str
    display_name: str = ""
    color: str = ""
    components: frozenset[str] = frozenset({"VEVENT"})
    writable: bool = True


class Side(StrEnum):
    """One of the two sides of a pair. By convention A is the business (source) side, B the calendar side."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        """The opposite side (a dict lookup: the engine asks this several times per item, and attribute access
        on an enum class costs ten times more)."""
        return _OTHER[self]


_OTHER = {Side.A: Side.B, Side.B: Side.A}
