"""An item's identity and its UID: one value in two spellings.

``Content.ident`` (what the engine links and asks ``locate`` about) is the UID as the text writes it: TEXT-escaped
(``\\,`` ``\\;`` ``\\\\``, a line break as ``\\n``) and stripped. ``Item.uid`` is the same value unescaped. A store
that keeps UIDs outside iCalendar (Graph's iCalUId, Exchange's UID, an id) or keeps calsync's key (an identity
already) must pass through these two, or an identity is compared with a raw UID, or a key escaped a second time
when an item built from it is written.
"""

from __future__ import annotations

from icalendar import vText
from icalendar.parser_tools import to_unicode

from calsync.model.contentlines import unescape


def ident_of_uid(uid: str) -> str:
    """The identity ``Content.ident`` gives an item whose ``Item.uid`` is ``uid``: escaped by the writer's own
    TEXT value and read back as the writer's text is (a leading byte-order mark dropped), then stripped.

    Total, so reading a store's identities never fails: a UID no text can hold (a lone surrogate) gets the same
    escaping; writing an item with it fails on its own, as an invalid item."""
    try:
        written = to_unicode(vText(uid).to_ical())
    except UnicodeEncodeError:  # the same escaping, in an encoding that holds any text
        written = vText(uid, "unicode_escape").to_ical().decode("unicode_escape")
    return written.strip()


def uid_of_ident(ident: str) -> str:
    """The ``Item.uid`` whose identity is ``ident`` (TEXT unescaped): for every identity ``ident_of_uid`` gives,
    ``ident_of_uid(uid_of_ident(ident)) == ident``, but one starting with a byte-order mark (which only a UID
    with white space before the mark gives), since the writer drops a mark that starts a value.

    An identity another writer spelled otherwise (an unescaped comma, ``\\N`` for a line break) has no UID that
    the writer spells the same way: the item written from it gets the writer's spelling."""
    return unescape(ident)
