"""The folder connector: one item per file, written atomically, each file read once per run."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from calsync.connectors.base import (
    Capabilities,
    ChangeSet,
    Fetched,
    FetchFailed,
    href_for_key,
    hrefs_for_key,
    other_identity,
)
from calsync.connectors.folder.files import (
    _UIDS_AT,
    _UNREADABLE,
    Signature,
    _checked_name,
    _dump_token,
    _fsync_folder,
    _item_stat,
    _load_token,
    _no_item,
    _read,
    _read_error,
    _sweep,
    _text,
    _unreadable,
    _write_new,
    etag_of,
)
from calsync.connectors.folder.identities import Identities, created_apart, read_folder, uids_of
from calsync.connectors.folder.readahead import ReadAhead
from calsync.errors import AlreadyExists, ConnectorError, InvalidItem, NotFound, PreconditionFailed, ReadOnly
from calsync.model.canonical import ICALENDAR, VCARD
from calsync.model.content import Content
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window


class FolderConnector:
    """Items as files in subfolders of ``root``."""

    def __init__(
        self,
        root: str | Path,
        *,
        name: str = "folder",
        extension: str = ".ics",
        read_only: bool = False,
        fsync: bool = False,
    ) -> None:
        self.name = name
        self.root = Path(root)
        self.extension = extension
        self.media_type = VCARD if extension == ".vcf" else ICALENDAR
        self.fsync = fsync
        self.capabilities = Capabilities(
            has_sync_token=True,
            filters_window=False,  # knowing an item's dates means reading it: the engine does that once, after get()
            max_batch=500,
            read_only=read_only,
            formats=frozenset({self.media_type}),
        )
        self._written: dict[tuple[str, str], Signature] = {}
        self._folders: dict[str, str] = {}
        self._read_ahead = ReadAhead()
        self._identities = Identities(
            lambda collection: read_folder(self._folder(collection), self._is_item, self.media_type)
        )
        self._temp_names = itertools.count()

    # -- reading ------------------------------------------------------------------------------------------------

    def discover(self) -> list[CollectionInfo]:
        """Every subfolder of the root."""
        if not self.root.is_dir():
            raise NotFound(f"{self.root} is not a folder", connector=self.name)
        components = frozenset({"VCARD"} if self.media_type == VCARD else {"VEVENT", "VTODO"})
        return [
            CollectionInfo(
                id=p.name,
                display_name=p.name,
                components=components,
                writable=not self.capabilities.read_only,
            )
            for p in sorted(self.root.iterdir())
            if p.is_dir() and not p.name.startswith(".")
        ]

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """Files whose stat signature differs from the token's cache; ``None`` lists every file."""
        folder = self._folder(collection)
        self._read_ahead.forget(collection)
        cache = _load_token(token)
        fresh: dict[str, Signature] = {}
        changed: list[ItemRef] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if not self._is_item(entry.name):
                    _sweep(entry.path, entry.name, read_only=self.capabilities.read_only)
                    continue
                try:
                    stat = _item_stat(entry)
                except OSError:  # a link to nothing or in a loop, a folder we may not enter: never taken as deleted
                    _unreadable(entry.name, cache, fresh, changed)
                    continue
                if stat is None:  # a folder named like an item, or deleted since the folder was listed
                    continue
                signature: Signature = [stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino]
                cached = cache.get(entry.name)
                if cached is not None and cached[:4] == signature:
                    fresh[entry.name] = cached
                    continue
                try:
                    data = _read(entry.path)
                except OSError as exc:
                    if isinstance(exc, FileNotFoundError) and not entry.is_symlink():
                        continue  # deleted since it was listed (a link's target is unreadable, not deleted)
                    _unreadable(entry.name, cache, fresh, changed)
                    continue
                etag = etag_of(data)
                self._read_ahead.keep(collection, entry.name, data)
                fresh[entry.name] = [*signature, etag, *uids_of(data, self.media_type)]
                changed.append(ItemRef(entry.name, etag))
        deleted = [name for name in cache if name not in fresh]
        if token is not None and not changed and not deleted:
            self._identities.listed(collection, functools.partial(_load_token, token), _UIDS_AT)
            return ChangeSet([], [], token)  # nothing moved: the token stands as it is
        new_token = _dump_token(fresh)
        self._identities.listed(collection, functools.partial(_load_token, new_token), _UIDS_AT)  # kept as text
        return ChangeSet(changed, deleted, new_token, complete=token is None or not cache)

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Every file (this store does not filter by window: see ``capabilities``)."""
        folder = self._folder(collection)
        self._read_ahead.forget(collection)
        refs = []
        uids: dict[str, Sequence[str]] = {}
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if not self._is_item(name):
                _sweep(path, name, read_only=self.capabilities.read_only)
                continue
            try:
                data = _read(path)
            except OSError as exc:  # a link to nothing, a file we may not read: get() says which
                if not _no_item(path, exc):
                    refs.append(ItemRef(name, _UNREADABLE))
                continue
            self._read_ahead.keep(collection, name, data)
            refs.append(ItemRef(name, etag_of(data)))
            uids[name] = uids_of(data, self.media_type)
        self._identities.listed(collection, lambda: uids)
        return refs

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Items by file name; a missing file is ``NotFound``, undecodable bytes ``InvalidItem``."""
        folder = self._folder(collection)
        for href in hrefs:
            try:
                data = self._read_ahead.kept(collection, href) or _read(os.path.join(folder, _checked_name(href)))
                text = _text(data)
            except OSError as exc:
                yield FetchFailed(href, _read_error(folder, href, exc, self.name))
            except (UnicodeDecodeError, ConnectorError) as exc:
                yield FetchFailed(
                    href,
                    InvalidItem(f"{href} is not UTF-8 text or not a valid name: {exc}", connector=self.name, href=href),
                )
            else:
                yield Fetched(ItemRef(href, etag_of(data)), Content.from_text(text, self.media_type))

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Link a new file into place at a name derived from ``key``; a retry returns the first copy.

        An item of identity ``key`` in another file (a user's, at a name of their own) is ``AlreadyExists``
        naming that file, before anything is written: as a CalDAV server refuses a second item of one UID, so
        the engine reads it and decides again rather than leaving two copies of one item in the folder.
        """
        try:  # not ``_os_errors``: a first sync creates every item, and the context manager costs per call
            return self._create(collection, content, key)
        except OSError as exc:
            raise self._os_error(exc, collection, "write a new item") from exc

    def _create(self, collection: str, content: Content, key: str) -> ItemRef:
        folder = self._writable_folder(collection, create=True)
        holder = self._holder(collection, folder, key)
        if holder is not None:
            return self._held(folder, content, key, holder)
        data = content.text.encode("utf-8")
        tmp, etag = self._write_temp(folder, data)
        href = href_for_key(key, self.extension)
        placed: str | ItemRef = href
        try:
            try:
                os.link(tmp, folder + os.sep + href)
            except FileExistsError:
                placed = self._place_beside(folder, tmp, content, key)
        finally:
            os.unlink(tmp)
        if isinstance(placed, ItemRef):
            return placed
        if self.fsync:
            _fsync_folder(folder)
        return self._remember(collection, placed, folder, etag, created_apart(content, data, key))  # once linked

    def _holder(self, collection: str, folder: str, key: str) -> str | None:
        """The file holding an item of identity ``key`` other than the two names ``key`` gives, if any.

        Only the files the index names are read, to confirm them: a file since rewritten, removed or holding
        ``key`` only as a VALARM's UID is no holder. The index comes from this connector's listing of the
        collection (or the token it was given); before any, from reading the folder once.
        """
        candidates = self._identities.holders(collection, key)
        if candidates:  # seldom: the key's names cost a hash to make, so only then
            own = hrefs_for_key(key, self.extension)
            for href in candidates:
                if href not in own and self._identities.confirmed(folder + os.sep + href, self.media_type) == key:
                    return href
        return None

    def _held(self, folder: str, content: Content, key: str, holder: str) -> ItemRef:
        """A create of an item ``holder`` holds: a retry's first copy at one of the key's names is returned
        (as a server returns it); otherwise ``AlreadyExists`` naming ``holder``."""
        for href in hrefs_for_key(key, self.extension):
            try:
                _, ref = self._existing(folder, href, content, key)  # our copy with other content: AlreadyExists
            except FileNotFoundError:
                break  # the name is free: the item would have gone here
            if ref is not None:
                return ref
        raise AlreadyExists(f"{key} exists at {holder}", connector=self.name, href=holder)

    def _place_beside(self, folder: str, tmp: str, content: Content, key: str) -> str | ItemRef:
        """The first name is taken: by an earlier copy of this item (its ref), or by another item (the second
        name, where the new file is linked and whose name is returned)."""
        found = ""
        for href in hrefs_for_key(key, self.extension):
            try:
                os.link(tmp, os.path.join(folder, href))
            except FileExistsError:
                found, ref = self._existing(folder, href, content, key)
                if ref is not None:
                    return ref
                continue
            return href
        raise other_identity(key, href, found, self.name)

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the file if its bytes still have ``ref.version``.

        A symbolic link is kept and its target replaced (the temporary file written beside the target, so the
        rename stays atomic): replacing the link would cut the item off from the file it shares.
        """
        with self._os_errors(collection, f"write {ref.href}"):
            folder = self._writable_folder(collection)
            path = os.path.join(folder, _checked_name(ref.href))
            if os.path.islink(path):
                path = os.path.realpath(path)
            self._check_version(path, ref)
            place = os.path.dirname(path)
            data = content.text.encode("utf-8")
            tmp, etag = self._write_temp(place, data)
            try:
                os.replace(tmp, path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            if self.fsync:
                _fsync_folder(place)
            return self._remember(collection, ref.href, folder, etag, uids_of(data, self.media_type))

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the file if its bytes still have ``ref.version``; already gone is fine."""
        with self._os_errors(collection, f"delete {ref.href}"):
            folder = self._writable_folder(collection)
            path = os.path.join(folder, _checked_name(ref.href))
            try:
                self._check_version(path, ref)
            except NotFound:
                return
            self._read_ahead.kept(collection, ref.href)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """Add the files this connector wrote to the token's cache, so the next run need not read them."""
        written = list(written)
        if token is None or not written:
            return token
        cache = _load_token(token)
        for ref in written:
            signature = self._written.pop((collection, ref.href), None)
            if signature is not None and signature[4] == ref.version:
                cache[ref.href] = signature
        return _dump_token(cache)

    # -- internals ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _os_errors(self, collection: str, doing: str) -> Iterator[None]:
        """An operating-system error (a full disk, a permission, a read-only mount) as this item's failure, in
        words, so the run reports it and goes on with the other items."""
        try:
            yield
        except OSError as exc:
            raise self._os_error(exc, collection, doing) from exc

    def _os_error(self, exc: OSError, collection: str, doing: str) -> ConnectorError:
        reason = exc.strerror or type(exc).__name__
        return ConnectorError(f"cannot {doing} in {collection or 'the folder'}: {reason}", connector=self.name)

    def _is_item(self, name: str) -> bool:
        return name.endswith(self.extension) and not name.startswith(".")

    def _folder(self, collection: str) -> str:
        """The folder of ``collection`` (checked once per connector: it is on every read's path)."""
        folder = self._folders.get(collection)
        if folder is None:
            folder = os.path.join(self.root, _checked_name(collection)) if collection else str(self.root)
            if not os.path.isdir(folder):
                raise NotFound(f"no folder {folder}", connector=self.name)
            self._folders[collection] = folder
        return folder

    def _writable_folder(self, collection: str, *, create: bool = False) -> str:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name)
        if create and collection and collection not in self._folders:
            os.makedirs(os.path.join(self.root, _checked_name(collection)), exist_ok=True)
        return self._folder(collection)

    def _write_temp(self, folder: str, data: bytes) -> tuple[str, str]:
        """Write ``data`` to a new hidden file next to its destination (``_write_new``); its name and etag."""
        return _write_new(folder, data, self._temp_names, fsync=self.fsync), etag_of(data)

    def _remember(self, collection: str, href: str, folder: str, etag: str, uids: Sequence[str]) -> ItemRef:
        """The ref of a file just written, its signature (with ``uids``: see ``Signature``) kept for
        ``absorb_writes`` and its UIDs indexed.

        The stat is taken once the file is in place (linking and renaming change ctime). Should another program
        rewrite the file within the microseconds in between, its change is seen at the next full sync.
        """
        self._read_ahead.kept(collection, href)
        stat = os.stat(folder + os.sep + href)
        signature: Signature = [stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino, etag, *uids]
        self._written[(collection, href)] = signature
        if uids:  # a created file holds its key only, nearly always: nothing to index
            self._identities.wrote(collection, href, uids)
        return ItemRef(href, etag)

    def _existing(self, folder: str, href: str, content: Content, key: str) -> tuple[str, ItemRef | None]:
        """What holds ``href``: (its identity, our ref when it is our item with this content).

        Raises ``AlreadyExists`` when it is our item with other content; another item returns (its id, None).
        """
        data = _read(os.path.join(folder, href))
        try:
            held = Content.from_text(_text(data), self.media_type)
            ident = held.ident
        except (UnicodeDecodeError, InvalidItem):
            return "", None
        if ident != key:
            return ident, None
        if held.digest != content.digest:
            raise AlreadyExists(f"{key} exists with other content", connector=self.name, href=href)
        return ident, ItemRef(href, etag_of(data))

    def _check_version(self, path: str, ref: ItemRef) -> None:
        try:
            current = etag_of(_read(path))
        except FileNotFoundError:
            raise NotFound(f"{ref.href} is gone", connector=self.name, href=ref.href) from None
        if current != ref.version:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)
