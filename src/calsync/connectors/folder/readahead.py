"""What a listing read, kept for the ``get()`` that follows, so a run reads each file once."""

from __future__ import annotations

_READ_AHEAD_BYTES = 64 * 1024 * 1024
"""How much of what ``changes()`` read it keeps for the ``get()`` that follows, so a run reads a file once."""


class ReadAhead:
    """File bytes by collection, then file name, up to ``_READ_AHEAD_BYTES`` in all; whatever does not fit is
    simply read again by ``get()``."""

    def __init__(self) -> None:
        self._read_ahead: dict[str, dict[str, bytes]] = {}  # by collection, then file name
        self._read_ahead_size = 0

    def keep(self, collection: str, name: str, data: bytes) -> None:
        """Keep ``data`` if it fits in the budget."""
        if self._read_ahead_size + len(data) <= _READ_AHEAD_BYTES:
            self._read_ahead.setdefault(collection, {})[name] = data
            self._read_ahead_size += len(data)

    def kept(self, collection: str, name: str) -> bytes | None:
        """The bytes kept for ``name``, no longer kept once returned (``None`` if none were)."""
        data = self._read_ahead.get(collection, {}).pop(name, None)
        if data is not None:
            self._read_ahead_size -= len(data)
        return data

    def forget(self, collection: str) -> None:
        """Drop what a listing of ``collection`` read ahead (only that collection's: one connector may serve
        both sides of a pair, and the engine asks both for their changes before reading either)."""
        dropped = self._read_ahead.pop(collection, {})
        self._read_ahead_size -= sum(len(data) for data in dropped.values())
