"""A folder of ``.ics`` (or ``.vcf``) files, one item per file: the simplest real store, and vdirsyncer's format.

Each collection is a subfolder of the root (the collection ``""`` is the root itself). Versions are etags made
from the file's bytes, so a rewrite that keeps the bytes keeps the version. Writes are atomic: the new bytes go
to a hidden temporary file that is then linked (create: fails if the name exists, so two creates cannot both
win) or renamed (update) into place. The sync token is a cache of every file's stat signature and etag, so an
incremental run reads only the files whose size, mtime or inode changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
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
from calsync.errors import AlreadyExists, ConnectorError, InvalidItem, NotFound, PreconditionFailed, ReadOnly
from calsync.model.canonical import ICALENDAR, VCARD
from calsync.model.content import Content
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window

_TOKEN_VERSION = 2
_READ_BLOCK = 256 * 1024
_READ_AHEAD_BYTES = 64 * 1024 * 1024
"""How much of what ``changes()`` read it keeps for the ``get()`` that follows, so a run reads a file once."""
Signature = list[int | str]
"""[mtime_ns, ctime_ns, size, inode, etag] of one file as the token caches it.

ctime is in because a tool can put mtime back (``touch -r``, some editors, copies that keep times), and nothing
can put ctime back."""


def etag_of(data: bytes) -> str:
    """The version of a file: a digest of its bytes."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


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
        self._read_ahead: dict[str, dict[str, bytes]] = {}  # by collection, then file name
        self._read_ahead_size = 0
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
        self._forget_read_ahead(collection)
        cache = _load_token(token)
        fresh: dict[str, Signature] = {}
        changed: list[ItemRef] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if not self._is_item(entry.name):
                    continue
                try:
                    if not entry.is_file():  # a folder named like an item, or a link to nothing
                        continue
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                except OSError:  # a link loop, a folder we may not enter: unreadable, never taken as deleted
                    _unreadable(entry.name, cache, fresh, changed)
                    continue
                signature: Signature = [stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino]
                cached = cache.get(entry.name)
                if cached is not None and cached[:4] == signature:
                    fresh[entry.name] = cached
                    continue
                try:
                    data = _read(entry.path)
                except FileNotFoundError:
                    continue
                except OSError:
                    _unreadable(entry.name, cache, fresh, changed)
                    continue
                etag = etag_of(data)
                self._keep(collection, entry.name, data)
                fresh[entry.name] = [*signature, etag]
                changed.append(ItemRef(entry.name, etag))
        deleted = [name for name in cache if name not in fresh]
        if token is not None and not changed and not deleted:
            return ChangeSet([], [], token)  # nothing moved: the token stands as it is
        return ChangeSet(changed, deleted, _dump_token(fresh), complete=token is None or not cache)

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Every file (this store does not filter by window: see ``capabilities``)."""
        folder = self._folder(collection)
        self._forget_read_ahead(collection)
        refs = []
        for name in os.listdir(folder):
            if not self._is_item(name):
                continue
            try:
                data = _read(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            except OSError:  # a folder named like an item, a file we may not read: get() says which
                if os.path.isdir(os.path.join(folder, name)):
                    continue
                refs.append(ItemRef(name, _UNREADABLE))
                continue
            self._keep(collection, name, data)
            refs.append(ItemRef(name, etag_of(data)))
        return refs

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Items by file name; a missing file is ``NotFound``, undecodable bytes ``InvalidItem``."""
        folder = self._folder(collection)
        for href in hrefs:
            try:
                data = self._kept(collection, href) or _read(os.path.join(folder, _checked_name(href)))
                text = data.decode("utf-8")
            except FileNotFoundError:
                yield FetchFailed(href, NotFound(f"{href} does not exist", connector=self.name, href=href))
            except OSError as exc:  # permissions, a folder in its place, an I/O error: this item only
                reason = exc.strerror or type(exc).__name__
                yield FetchFailed(href, ConnectorError(f"cannot read {href}: {reason}", connector=self.name, href=href))
            except (UnicodeDecodeError, ConnectorError) as exc:
                yield FetchFailed(
                    href,
                    InvalidItem(f"{href} is not UTF-8 text or not a valid name: {exc}", connector=self.name, href=href),
                )
            else:
                yield Fetched(ItemRef(href, etag_of(data)), Content.from_text(text, self.media_type))

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Link a new file into place at a name derived from ``key``; a retry returns the first copy."""
        try:  # not ``_os_errors``: a first sync creates every item, and the context manager costs per call
            return self._create(collection, content, key)
        except OSError as exc:
            raise self._os_error(exc, collection, "write a new item") from exc

    def _create(self, collection: str, content: Content, key: str) -> ItemRef:
        folder = self._writable_folder(collection, create=True)
        tmp, etag = self._write_temp(folder, content.text.encode("utf-8"))
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
        return self._remember(collection, placed, folder, etag)  # stat once both links are made: ctime moves

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
        """Replace the file if its bytes still have ``ref.version``."""
        with self._os_errors(collection, f"write {ref.href}"):
            folder = self._writable_folder(collection)
            path = os.path.join(folder, _checked_name(ref.href))
            self._check_version(path, ref)
            tmp, etag = self._write_temp(folder, content.text.encode("utf-8"))
            try:
                os.replace(tmp, path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return self._remember(collection, ref.href, folder, etag)

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the file if its bytes still have ``ref.version``; already gone is fine."""
        with self._os_errors(collection, f"delete {ref.href}"):
            folder = self._writable_folder(collection)
            path = os.path.join(folder, _checked_name(ref.href))
            try:
                self._check_version(path, ref)
            except NotFound:
                return
            self._kept(collection, ref.href)
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
        """Write ``data`` to a new hidden file next to its destination; returns its name and etag."""
        while True:
            name = f"{folder}{os.sep}.{os.getpid()}-{next(self._temp_names)}.tmp"
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                break
            except FileExistsError:
                continue  # left by a crashed run with our pid: take the next name
        try:
            os.write(fd, data)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return name, etag_of(data)

    def _keep(self, collection: str, name: str, data: bytes) -> None:
        if self._read_ahead_size + len(data) <= _READ_AHEAD_BYTES:
            self._read_ahead.setdefault(collection, {})[name] = data
            self._read_ahead_size += len(data)

    def _kept(self, collection: str, name: str) -> bytes | None:
        data = self._read_ahead.get(collection, {}).pop(name, None)
        if data is not None:
            self._read_ahead_size -= len(data)
        return data

    def _forget_read_ahead(self, collection: str) -> None:
        """Drop what a listing of ``collection`` read ahead (only that collection's: one connector may serve
        both sides of a pair, and the engine asks both for their changes before reading either)."""
        dropped = self._read_ahead.pop(collection, {})
        self._read_ahead_size -= sum(len(data) for data in dropped.values())

    def _remember(self, collection: str, href: str, folder: str, etag: str) -> ItemRef:
        """The ref of a file just written, its signature kept for ``absorb_writes``.

        The stat is taken once the file is in place (linking and renaming change ctime). Should another program
        rewrite the file within the microseconds in between, its change is seen at the next full sync.
        """
        self._kept(collection, href)
        stat = os.stat(folder + os.sep + href)
        self._written[(collection, href)] = [stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino, etag]
        return ItemRef(href, etag)

    def _existing(self, folder: str, href: str, content: Content, key: str) -> tuple[str, ItemRef | None]:
        """What holds ``href``: (its identity, our ref when it is our item with this content).

        Raises ``AlreadyExists`` when it is our item with other content; another item returns (its id, None).
        """
        data = _read(os.path.join(folder, href))
        try:
            held = Content.from_text(data.decode("utf-8"), self.media_type)
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


_UNREADABLE = "unreadable"
"""The version of a file that could not be read: no etag is ever this, so the engine asks ``get()``, which says
why for that item alone."""
_UNREAD: Signature = [-1, -1, -1, -1]
"""The cached signature of such a file: no stat matches it, so the next run reads the file again."""


def _unreadable(name: str, cache: dict[str, Signature], fresh: dict[str, Signature], changed: list[ItemRef]) -> None:
    """A file that cannot be read now: listed with a version no etag has (``get()`` then says why, for this item
    only), and cached with a signature no stat matches, so the next run reads it again. Never left out of the
    listing: a file missing from it is a deletion."""
    cached = cache.get(name)
    fresh[name] = [*_UNREAD, cached[4] if cached is not None else ""]
    changed.append(ItemRef(name, _UNREADABLE))


def _read(path: str) -> bytes:
    """The bytes of a file, read with plain system calls: half the cost of ``open()``'s buffered file (no fstat,
    no seek, no buffer), which counts when a first sync reads ten thousand files."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while block := os.read(fd, _READ_BLOCK):
            parts.append(block)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _checked_name(name: str) -> str:
    """A file or folder name that cannot climb out of the root."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidItem(f"not a safe file name: {name!r}")
    return name


def _load_token(token: str | None) -> dict[str, Signature]:
    if not token:
        return {}
    try:
        data = json.loads(token)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _dump_token(files: dict[str, Signature]) -> str:
    return json.dumps({"v": _TOKEN_VERSION, "files": files}, separators=(",", ":"))
