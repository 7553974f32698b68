"""A scan worker's side: the program a worker runs, the messages both sides exchange, and what a worker says
of the code it runs.

A worker (started by ``calsync.sync.prescan``) first writes one line, ``MAGIC`` and ``code_in_use()`` as JSON;
the syncing process gives it work only if that is what it runs itself (``check_same_code``). Then it reads
chunks of texts, each a pickled list of (text, media type) behind an 8-byte length, and answers each with the
scans as plain tuples, framed the same way. Both sides read messages with ``plain_loads``, which refuses any
class or function: a message can never import code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import pickle
import struct
import sys
import zoneinfo
from pathlib import Path
from typing import IO, Any

from calsync.model.canonical import Facts, Scan, scan
from calsync.model.item import ItemKind, Sensitivity

HEADER = struct.Struct("<Q")

MAGIC = b"calsync-scan-worker/1 "
"""How a worker's first line starts; the rest of the line says which code it runs (``code_in_use``, JSON)."""

Packed = tuple[str, str, str, str, float | None, float | None, bool, bool, str, str]


class OtherCode(Exception):
    """A worker runs other code, data or interpreter settings than this process, or said nothing readable."""


def _scan_texts(texts: list[tuple[str, str]]) -> list[Packed | None]:
    """The scans of ``texts`` as plain tuples (cheap to pickle); ``None`` for a text that is not a valid item."""
    results: list[Packed | None] = []
    for text, media_type in texts:
        try:
            results.append(_pack(scan(text, media_type)))
        except Exception:  # a bad item, or a defect: this process scans it again and meets the error itself
            results.append(None)
    return results


def _pack(made: Scan) -> Packed:
    f = made.facts
    lo, hi = f.span
    return (f.ident, f.kind.value, f.title, f.sensitivity.value, lo, hi, f.recurring, f.has_attendees, f.stamp,
            made.digest)  # fmt: skip


def unpack(packed: Packed) -> Scan:
    """The ``Scan`` a worker sent as a tuple."""
    ident, kind, title, sensitivity, lo, hi, recurring, has_attendees, stamp, digest = packed
    facts = Facts(ident, ItemKind(kind), title, Sensitivity(sensitivity), (lo, hi), recurring, has_attendees, stamp)
    return Scan(facts, digest)


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """A worker's loop: load what scans read lazily, say which code it runs (one line), then answer each chunk
    of texts read from ``source`` with its scans, until end of input."""
    _load_lazy_parts()
    sink.write(MAGIC + json.dumps(code_in_use()).encode() + b"\n")
    sink.flush()
    while True:
        header = source.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        (size,) = HEADER.unpack(header)
        texts: Any = plain_loads(source.read(size))
        data = pickle.dumps(_scan_texts(texts), protocol=pickle.HIGHEST_PROTOCOL)
        sink.write(HEADER.pack(len(data)) + data)
        sink.flush()


def _load_lazy_parts() -> None:
    """Import and load, before saying which code runs, what a scan would otherwise read later (the Windows zone
    table): a file replaced between the two would escape the comparison."""
    import calsync.model.timezones  # noqa: F401 - what a scan of a Windows zone name imports
    from calsync.model import tznames

    tznames.table()


class _PlainUnpickler(pickle.Unpickler):
    """Reads only plain values (lists, tuples, strings, numbers): what the two sides send each other. A message
    naming a class or function is refused, never imported."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a scan message may not name {module}.{name}")


def plain_loads(data: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(data)).load()


def _digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def code_in_use() -> dict[str, Any]:
    """What decides a scan in this process: the interpreter and its settings, the contents of the item model's
    files (modules and data, those imported later included) and of the time-zone data."""
    package = Path(__file__).resolve().parents[1]
    files: dict[str, str] = {}
    for path in [*sorted((package / "model").rglob("*")), package / "errors.py", Path(__file__).resolve()]:
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts and path.is_file():
            files[path.relative_to(package).as_posix()] = _digest(path)
    zones: list[list[str]] = []
    for folder in zoneinfo.TZPATH:
        index = Path(folder) / "tzdata.zi"
        zones.append([folder, _digest(index) if index.is_file() else ""])
    tzdata = _origin("tzdata")
    if tzdata is not None:
        index = Path(tzdata).parent / "zoneinfo" / "tzdata.zi"
        zones.append([tzdata, _digest(index) if index.is_file() else ""])
    return {
        "python": sys.version,
        "utf8": sys.flags.utf8_mode,
        "encoding": sys.getfilesystemencoding(),
        "digits": sys.get_int_max_str_digits(),
        "zones": zones,
        "files": files,
    }


def _origin(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


CODE_HERE = code_in_use()
"""This process's code, taken when the scanner was imported: a worker started after an upgrade in place reads the
new files, which this process does not run. Without the model's files on disk (a zip application, an install
without sources) there is nothing to compare, and no worker is started."""


def check_same_code(theirs: Any) -> None:
    """Raise ``OtherCode`` unless a worker's ``code_in_use`` is this process's at import."""
    if not isinstance(theirs, dict) or theirs.keys() != CODE_HERE.keys():
        raise OtherCode("it did not say which code it runs")
    for key in ("python", "utf8", "encoding", "digits", "zones"):
        if theirs[key] != CODE_HERE[key]:
            raise OtherCode(f"{key} {theirs[key]!r}, not {CODE_HERE[key]!r}")
    files, their_files = CODE_HERE["files"], theirs["files"]
    if not isinstance(their_files, dict):
        raise OtherCode("it did not say which files it runs")
    for name in sorted(files.keys() | their_files.keys()):
        if files.get(name) != their_files.get(name):
            raise OtherCode(f"calsync/{name} differs from the copy this process imported")
