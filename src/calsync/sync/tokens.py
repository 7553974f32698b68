"""What the engine stores as a side's token, and when a token alone is not enough to know a side's window.

Why it stands apart from ``observe``: the stored form (a versioned envelope around the connector's own token,
with the hrefs to read again and the window's edge) is a format that outlives a release and is read by the
engine before and after a run, while ``observe`` is how one run reads a side. The sweep schedule lives here too:
it is decided from the envelope alone (``sweep_due``, ``edge_after``), by the engine as well as by the observer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from calsync.connectors.base import ChangeSet, Connector
from calsync.model.window import Window


@dataclass(slots=True)
class TokenEnvelope:
    """What the engine stores as a side's token: the connector's own token and hrefs to read again next run.

    Why the retry list: a token moves past every change it reported, so an item that failed to be read or
    written would otherwise not come back until it changes again.
    """

    token: str | None = None
    retry: set[str] = field(default_factory=set)
    edge: int | None = None
    """Where the window ended (POSIX seconds) when this side's items in it were last all known: the items of a
    store that filters by window and starting before it were listed; those after it may enter the window
    unchanged, which no change set reports (``observe.Observer._entering``)."""

    @classmethod
    def decode(cls, stored: str | None) -> TokenEnvelope:
        """The envelope of a stored token (``None`` and foreign strings read as a bare token).

        The format is a header line (the version, then `` edge=`` and seconds when there is one), a line of retry
        hrefs (``%``, line breaks and the separator escaped: a file may be named with any of them) and the
        connector's token as is: no escaping, so a large token costs nothing to wrap and unwrap. Version 1 did not
        escape the hrefs and had no edge.
        """
        if not stored or not stored.startswith(_HEADERS):
            return cls(stored or None)
        header, retry, token = stored.split("\n", 2)
        version, _, edge = header.partition(" edge=")
        hrefs = retry.split(_SEP)
        if version == _HEADER:
            hrefs = [_unescape_href(href) for href in hrefs]
        token_or_none = token[1:] if token.startswith("=") else None
        return cls(token_or_none, set(filter(None, hrefs)), int(edge) if edge.isdigit() else None)

    def encode(self) -> str | None:
        """The string to store; ``None`` when there is nothing to remember."""
        if self.token is None and not self.retry:
            return None
        token = "-" if self.token is None else "=" + self.token
        header = _HEADER if self.edge is None else f"{_HEADER} edge={self.edge}"
        return f"{header}\n{_SEP.join(_escape_href(href) for href in sorted(self.retry))}\n{token}"


_HEADER = "calsync-token/2"
_HEADERS = (_HEADER, "calsync-token/1")
_SEP = "\x1f"
_ESCAPES = {"%": "%25", "\n": "%0A", "\r": "%0D", _SEP: "%1F"}
_HREF_ESCAPE = re.compile("[%\n\r\x1f]")
_HREF_UNESCAPE = re.compile("%(25|0A|0D|1F)")


def _escape_href(href: str) -> str:
    return _HREF_ESCAPE.sub(lambda match: _ESCAPES[match.group()], href) if _HREF_ESCAPE.search(href) else href


def _unescape_href(href: str) -> str:
    return _HREF_UNESCAPE.sub(lambda match: chr(int(match.group(1), 16)), href) if "%" in href else href


SWEEP_EVERY = 3600
"""Seconds the window's end moves before an interval run asks a store that filters by window for the items that
entered it unchanged (a change set never names them): one range query an hour."""
RELIST_EVERY = 86400
"""The same for a store that cannot filter by window: a complete listing of that side once a day, so an item
entering the window arrives within a day even when full syncs are off."""


def sweep_due(envelope: TokenEnvelope, connector: Connector, window: Window | None) -> bool:
    """Whether this run asks ``connector`` for the unlinked items that entered ``window`` since ``envelope.edge``:
    a range query of the slice gained (``observe.Observer._entering``) or, for a store that cannot filter, a complete
    listing. Only for stores with tokens: those without list the window at every run."""
    caps = connector.capabilities
    if window is None or envelope.edge is None or not caps.has_sync_token:
        return False
    return window.end.timestamp() - envelope.edge >= (SWEEP_EVERY if caps.filters_window else RELIST_EVERY)


def edge_after(envelope: TokenEnvelope, connector: Connector, window: Window | None, changes: ChangeSet) -> int | None:
    """The edge to store after a run: the window's end when the side's items in the window are all known by then
    (a complete listing, a sweep; an envelope without an edge starts from here), else the edge as it was;
    ``None`` for stores that need none (those that list the window at every run, or have no window)."""
    if window is None or not changes.token:
        return None
    if changes.complete or envelope.edge is None or sweep_due(envelope, connector, window):
        return int(window.end.timestamp())
    return envelope.edge
