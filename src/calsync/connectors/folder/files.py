"""The folder connector's file helpers: whole reads and writes with plain system calls (through temporary files,
and the sweep of those a crash left), why a read failed, names that stay inside the root, and the sync token's
cache of every file's stat signature, etag and UIDs."""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator

from calsync.errors import ConnectorError, InvalidItem, NotFound
from calsync.model.refs import ItemRef

_TOKEN_VERSION = 3
_READ_BLOCK = 256 * 1024
Signature = list[int | str]
"""[mtime_ns, ctime_ns, size, inode, etag, *uids] of one file as the token caches it.

ctime is in because a tool can put mtime back (``touch -r``, some editors, copies that keep times), and nothing
can put ctime back. The UIDs (from ``_UIDS_AT`` on: each UID line's value, or the identity of a file this
connector created, less its key) let a later run know which file may hold which item without reading it again
(``identities``); a token of an older version, without them, is not taken: every file is read once more."""
_UIDS_AT = 5


def etag_of(data: bytes) -> str:
    """The version of a file: a digest of its bytes."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


_UNREADABLE = "unreadable"
"""The version of a file that could not be read: no etag is ever this, so the engine asks ``get()``, which says
why for that item alone."""
_UNREAD: Signature = [-1, -1, -1, -1]
"""The cached signature of such a file: no stat matches it, so the next run reads the file again."""


def _unreadable(name: str, cache: dict[str, Signature], fresh: dict[str, Signature], changed: list[ItemRef]) -> None:
    """A file that cannot be read now: listed with a version no etag has (``get()`` then says why, for this item
    only), and cached with a signature no stat matches, so the next run reads it again (the etag and UIDs last
    read kept: a create confirms a holder by reading it, which this one fails). Never left out of the listing: a
    file missing from it is a deletion."""
    cached = cache.get(name)
    fresh[name] = [*_UNREAD, *(cached[4:] if cached is not None else [""])]
    changed.append(ItemRef(name, _UNREADABLE))


def _item_stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    """The stat of a listed file; ``None`` for what holds no item (a folder named like one, a file deleted since
    the folder was listed). Raises ``OSError`` for an item that is there but cannot be read now, a symbolic link
    whose target is missing (on a drive not mounted now) among them: only a file that is gone is a deletion."""
    try:
        if entry.is_file():
            return entry.stat()
    except FileNotFoundError:
        pass
    if entry.is_symlink() and not entry.is_dir():  # no system call for the link test: the listing says it
        raise FileNotFoundError(errno.ENOENT, "the link points at nothing", entry.path)
    return None


def _no_item(path: str, exc: OSError) -> bool:
    """Whether reading ``path`` failed because no item is there: no file (a link to nothing is an item that
    cannot be read now), or a folder named like an item."""
    if isinstance(exc, FileNotFoundError):
        return not os.path.islink(path)
    return os.path.isdir(path)


def _text(data: bytes) -> str:
    """The text of a file, without the byte-order mark Windows Notepad puts before UTF-8 text.

    Only the text loses it: versions stay digests of the bytes, so a listing, a read and an update's check agree.
    """
    return data[len(codecs.BOM_UTF8) :].decode("utf-8") if data.startswith(codecs.BOM_UTF8) else data.decode("utf-8")


_TEMP_NAME = re.compile(r"\.\d+-\d+\.tmp")
"""The names ``_write_new`` gives (``.<pid>-<n>.tmp``): only these are ever swept away."""
_STALE_TEMP_SECONDS = 3600
"""How old a temporary file must be before a listing removes it: a live write's is at most seconds old."""


def _sweep(path: str, name: str, *, read_only: bool) -> None:
    """Remove ``path`` if it is a temporary file of ours left over an hour ago (by a crash, or a write whose
    clean-up failed). Younger ones may be a concurrent run's live write; a read-only side is never touched.
    Costs nothing for other names, and a system call or two for each left-over file."""
    if read_only or not _TEMP_NAME.fullmatch(name):
        return
    with contextlib.suppress(OSError):  # gone already, or not ours to remove: the next listing tries again
        if time.time() - os.lstat(path).st_mtime > _STALE_TEMP_SECONDS:
            os.unlink(path)


def _read_error(folder: str, href: str, exc: OSError, connector: str) -> ConnectorError:
    """Why ``href`` could not be read: ``NotFound`` only when no file holds the name (a deletion to the
    engine). A link whose target is missing (on a drive not mounted now) is unreadable: deleting the other
    side's copy for it would lose the item when the drive comes back."""
    if isinstance(exc, FileNotFoundError):
        try:
            target = os.readlink(os.path.join(folder, href))
        except OSError:  # no link there either (never raised out of get(): one failure is one value)
            return NotFound(f"{href} does not exist", connector=connector, href=href)
        reason = f"it links to nothing ({target} is missing; a drive not mounted?)"
    else:  # permissions, a folder in its place, an I/O error: this item only
        reason = exc.strerror or type(exc).__name__
    return ConnectorError(f"cannot read {href}: {reason}", connector=connector, href=href)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data``: one system call when the disk takes them all, as it nearly always does.

    A write may take fewer (a disk nearly full, a file-size limit): the rest goes in further writes. Raises
    ``OSError`` when the disk takes none, rather than placing a truncated file.
    """
    done = os.write(fd, data)
    while done < len(data):
        taken = os.write(fd, memoryview(data)[done:])
        if taken <= 0:
            raise OSError(errno.ENOSPC, "the disk took no more bytes (is it full?)")
        done += taken


def _write_new(folder: str, data: bytes, names: Iterator[int], *, fsync: bool) -> str:
    """Write ``data`` to a new hidden file in ``folder``, named ``.<pid>-<n>.tmp`` (``_TEMP_NAME``) with the
    first ``n`` of ``names`` no file has; returns its path.

    Raises ``OSError`` when the disk does not take every byte, the file removed: a temporary file is only ever
    linked into place whole, and a failed one is not left to pile up run after run.
    """
    while True:
        name = f"{folder}{os.sep}.{os.getpid()}-{next(names)}.tmp"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            break
        except FileExistsError:
            continue  # left by a crashed run with our pid: take the next name
    try:
        try:
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return name


def _fsync_folder(folder: str) -> None:
    """Make the names just linked or renamed into ``folder`` durable: a file's own fsync does not cover them."""
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


_BACKSLASH_SEPARATES = "\\" in (os.sep, os.altsep)
"""On Windows; elsewhere a backslash is a letter of a file name like any other, and files are named with it."""


def _checked_name(name: str) -> str:
    """A file or folder name that cannot climb out of the root.

    It accepts every name a listing of the folder can return (a backslash too where it separates nothing), so an
    item that was read can also be written and deleted.
    """
    if not name or name in {".", ".."} or "/" in name or "\x00" in name or (_BACKSLASH_SEPARATES and "\\" in name):
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
