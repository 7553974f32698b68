"""Which file holds which identity, so a create can refuse a second file of one item without reading the folder.

A CalDAV server refuses a second item of one UID (``no-uid-conflict``), and the engine relies on that answer:
an item it did not link (one outside the window, say) may lie at a name of the user's, where a create at the
name derived from its key would not meet it. Reading the folder on each create would cost a first sync ten
thousand folder reads; instead each listing notes the UIDs in the bytes it reads anyway, the sync token carries
them for the files no run reads again, and a create reads only the few files the index names, to confirm them.

The index is a hint, in both directions: it names every file with a UID line of that value (a series' overrides,
a VALARM's own UID), and it may name a file since rewritten or removed. A create trusts only what it confirms by
reading the file (``holds``), so a stale or false entry never blocks one.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence

from calsync.connectors.folder.files import _no_item, _read, _text
from calsync.errors import InvalidItem
from calsync.model.canonical import VCARD
from calsync.model.content import Content
from calsync.model.contentlines import split_line, unfold

Listed = Mapping[str, Sequence[int | str]]
"""Files by name, each with its UIDs from some position on (a token's ``Signature`` holds them after the etag)."""

_REST = rb"([:;][^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)"
"""What follows a UID line's name: its parameters and value, with the lines folded into it."""
_UID_LINE = re.compile(rb"(?i)\nuid" + _REST)
"""A UID line of iCalendar: its name in any case (the scan upper-cases names), never after a group."""
_VCARD_UID_LINE = re.compile(rb"(?i)\n(?:[^\r\n:;]*\.)?uid" + _REST)
"""A UID line of a vCard, after a group too (``item1.UID``: the scan reads the name after the last dot)."""


def uids_of(data: bytes, media_type: str = "") -> list[str]:
    """The value of every UID line in a file's bytes, each once, as ``Content.ident`` reads it: any case, with
    parameters, folded over several lines, the value stripped; in a vCard after a group too.

    Why one regular expression, anchored on the line feed before the name: it runs on every file a listing
    reads, and it finds the lines in one pass in C, for about what lowering the bytes and finding ``uid`` in
    them costs. A pattern that also allows a group before the name
    costs several times more, so only vCards, where groups are, use one. A file whose lines end in a lone CR
    (old Macs) is read with line feeds; one that mixes both, as far as its line feeds go.
    """
    rests = (_VCARD_UID_LINE if media_type == VCARD else _UID_LINE).findall(data)
    if len(rests) == 1:
        rest = rests[0]
        if rest[0] == 58 and b"\n" not in rest:  # most: one UID line, no parameter (58 is ":"), not folded
            return [rest[1:].decode("utf-8", "replace").strip()]
    if not rests and (b"\r" in data or b"\n " in data or b"\n\t" in data):
        return uids_of(_unfolded(data), media_type)  # a lone CR, a fold in the name: read as the content reads it
    found = [_value(b"UID" + rest) for rest in rests]
    return [uid for uid in dict.fromkeys(found) if uid is not None]  # a series repeats its UID in each override


def _unfolded(data: bytes) -> bytes:
    """``data`` with line ends made line feeds and every fold undone, as ``unfold`` reads text."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n ", b"").replace(b"\n\t", b"")


def _value(line: bytes) -> str | None:
    """The value of one content line, its folding undone; ``None`` when it has none (no colon)."""
    lines = unfold(line.decode("utf-8", "replace"))
    try:
        return split_line(lines[0])[2].strip() if lines else None
    except InvalidItem:  # no colon: not a content line
        return None


def created_apart(content: Content, data: bytes, key: str) -> list[str]:
    """The identities a file just created at one of ``key``'s names holds besides ``key`` (which its name
    gives): none, nearly always. Its content was scanned already when the engine writes it, so this is free;
    content that does not scan gives every UID line in it."""
    try:
        ident = content.ident
    except InvalidItem:
        return [uid for uid in uids_of(data, content.media_type) if uid != key]
    return [] if ident == key else [ident]


def held_by(path: str, media_type: str) -> str | None:
    """The identity of the item the file at ``path`` holds; ``None`` when it is missing or holds no one item.

    Raises ``OSError`` when it is there but cannot be read now: it may hold the item, so no second copy is
    written beside it (the create fails, for that item and this run only)."""
    try:
        data = _read(path)
    except OSError as exc:
        if _no_item(path, exc):
            return None
        raise
    try:
        return Content.from_text(_text(data), media_type).ident
    except (UnicodeDecodeError, InvalidItem):
        return None


def read_folder(folder: str, is_item: Callable[[str], bool], media_type: str) -> dict[str, list[str]]:
    """The UIDs of every item file in ``folder``, for a create that comes before any listing of it."""
    files = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_item(entry.name):
                try:
                    files[entry.name] = uids_of(_read(entry.path), media_type)
                except OSError:  # unreadable now: no create can confirm it holds anything
                    continue
    return files


class Identities:
    """Per collection, the files that may hold each identity, from the last complete listing and this
    connector's own writes since.

    Built from the listing only when a create first asks, so a run that creates nothing pays nothing, and kept
    until then as the listing left it (for ``changes()``, the token it returned, which the engine holds anyway):
    ten thousand files' entries held as objects through a run would cost megabytes.
    """

    def __init__(self, read: Callable[[str], Listed]) -> None:
        self._read = read
        """Lists a collection's folder when no listing of it was taken yet (correctness first: a create must
        not miss a file no listing saw)."""
        self._listed: dict[str, tuple[Callable[[], Listed], int]] = {}
        self._index: dict[str, dict[str, list[str]]] = {}
        self._recent: list[str] = []
        self._confirmed: dict[str, tuple[tuple[int, int, int], str | None]] = {}
        """What a file named by the index was read to hold, by path, with the stat it had then."""

    def listed(self, collection: str, files: Callable[[], Listed], start: int = 0) -> None:
        """A complete listing of ``collection``: ``files()`` gives each file's entry, its UIDs from ``start``
        on. It replaces what was known (this connector's own writes are on disk, so in the listing too)."""
        self._listed[collection] = (files, start)
        self._index.pop(collection, None)
        self._confirmed.clear()
        self._keep_recent(collection)

    def _keep_recent(self, collection: str) -> None:
        """Forget all but the last two collections listed: a pair lists its two sides just before it writes."""
        self._recent = [c for c in self._recent if c != collection] + [collection]
        for old in self._recent[:-2]:
            self._listed.pop(old, None)
            self._index.pop(old, None)
        del self._recent[:-2]

    def holders(self, collection: str, key: str) -> Sequence[str]:
        """The files that may hold identity ``key``."""
        index = self._index.get(collection)
        if index is None:
            if collection not in self._listed:
                self._listed[collection] = (functools.partial(self._read, collection), 0)
            index = self._inverted(collection)
        return index.get(key, ())

    def confirmed(self, path: str, media_type: str) -> str | None:
        """``held_by``, read again only when the file's stat changed: a file of many items (a calendar export)
        is named by every create of one of them, and holds none."""
        try:
            stat = os.stat(path)
        except OSError as exc:
            if _no_item(path, exc):
                return None
            raise  # a link to nothing (a drive not mounted now) may hold the item: see ``held_by``
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        known = self._confirmed.get(path)
        if known is not None and known[0] == signature:
            return known[1]
        ident = held_by(path, media_type)
        self._confirmed[path] = (signature, ident)
        return ident

    def wrote(self, collection: str, href: str, uids: Sequence[str]) -> None:
        """This connector placed a file at ``href`` holding ``uids``. Only an index already built takes it:
        before any listing the folder read that a create then makes finds the file, and a listing not yet
        indexed names the file already (a create indexes first; an update keeps the file's identity)."""
        index = self._index.get(collection)
        if index is not None:
            for uid in uids:
                hrefs = index.setdefault(uid, [])
                if href not in hrefs:
                    hrefs.append(href)

    def _inverted(self, collection: str) -> dict[str, list[str]]:
        """The index of ``collection``, made from its listing (no longer kept once indexed)."""
        files, start = self._listed.pop(collection)
        index: dict[str, list[str]] = {}
        for name, entry in files().items():
            for uid in entry[start:]:
                index.setdefault(str(uid), []).append(name)
        self._index[collection] = index
        return index
