"""What each known server does differently, as data the connectors read (never ``if server == ...`` in code).

Rows are measured against the real servers where this project can run them (Radicale, Xandikos on loopback) and
taken from their documentation otherwise. ``detect`` picks a row from response headers; a configured server name
wins over detection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quirks:
    """One server's differences.

    - ``max_batch``: hrefs per multiget; Radicale scans the whole collection on every read, so few large
      batches beat many small ones, and it refuses reports over 10,000 items.
    - ``sync_collection``: RFC 6578 works; otherwise the ctag + etag listing is used from the start.
    - ``put_returns_etag``: a PUT answers with the stored item's ETag (else one PROPFIND reads it).
    - ``rewrites_on_put``: the stored bytes differ from the PUT body (PRODID, VTIMEZONE, property order); the
      content digest is built to be stable under this, recorded here for readers and benches.
    - ``hides_unparsable``: an item the server cannot parse is left out of every listing (so it is never
      reported); measured on Radicale 3.9 with a file written into its storage by another program.
    - ``refuses_bad_data_with_412``: invalid item data is refused with 412 ``valid-calendar-data`` (Xandikos),
      which must not be mistaken for a lost race.
    - ``time_range_query``: a calendar-query with a time range (one per component) costs less than reading the
      items it leaves out, so the window is asked of the server. Not on Xandikos 0.4: it parses every item of
      the calendar for each query and keeps 1,024 parsed items, so above that each query parses them all again
      (measured on 5,000 items: 4 s per component, where a multiget of all of them takes 2.6 s); there the
      connector lists everything and the engine applies the window to what it reads.
    - ``uid_queries``: up to how many identities ``locate`` asks for one by one (a query on the UID per component);
      above that, or on a server where such a query costs more than reading every item, it reads every item.
      Both servers measured parse every item of the calendar for each query on a UID: on 3,000 events one key
      took Radicale 15 to 20 s and Xandikos 10 to 20 s (both components), where reading every item took 1.6 s
      and 6 s.
    """

    server: str
    max_batch: int = 500
    sync_collection: bool = True
    put_returns_etag: bool = True
    rewrites_on_put: bool = False
    hides_unparsable: bool = False
    refuses_bad_data_with_412: bool = False
    time_range_query: bool = True
    uid_queries: int = 8


DEFAULT = Quirks("generic")

KNOWN: Mapping[str, Quirks] = {
    "radicale": Quirks("radicale", max_batch=2000, rewrites_on_put=True, hides_unparsable=True, uid_queries=0),
    "xandikos": Quirks(
        "xandikos", max_batch=1000, refuses_bad_data_with_412=True, time_range_query=False, uid_queries=0
    ),
    "nextcloud": Quirks("nextcloud", max_batch=500),
    "icloud": Quirks("icloud", max_batch=100, put_returns_etag=False),
    "google": Quirks("google", max_batch=100, put_returns_etag=False),
}

_SIGNATURES: tuple[tuple[str, str, str], ...] = (
    ("server", "xandikos", "xandikos"),
    ("server", "aiohttp", "xandikos"),
    ("server", "radicale", "radicale"),
    ("server", "wsgiserver", "radicale"),
    ("x-nextcloud", "", "nextcloud"),
    ("server", "apple", "icloud"),
    ("server", "gse", "google"),
)
"""(header, substring, server): the first header that matches names the server."""


def quirks_for(server: str = "", headers: Mapping[str, str] | None = None) -> Quirks:
    """The row for ``server`` if named, else the one detected from ``headers``, else ``DEFAULT``."""
    if server:
        return KNOWN.get(server.lower(), DEFAULT)
    lowered = {k.lower(): v.lower() for k, v in (headers or {}).items()}
    for header, needle, name in _SIGNATURES:
        value = lowered.get(header)
        if value is not None and needle in value:
            return KNOWN[name]
    return DEFAULT
