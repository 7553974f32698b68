"""Bad input from the server is reported per item and the rest of the collection syncs (DESIGN.md invariant 4).

Real servers refuse some bad items on PUT (Radicale: no UID, not iCalendar; Xandikos: not iCalendar, with a 412
``valid-calendar-data``), so those are placed the way they reach a server in practice: written to Radicale's
storage folder by another program (Radicale then hides it from every listing: nothing to report, the rest must
still sync), or accepted by Xandikos, which stores an event without a UID (calsync must report that one item).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import InvalidItem
from calsync.model.content import Content
from calsync.state.sql import open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.connectors.dav.servers import Server
from tests.samples import event

GARBAGE = "BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n"
NO_UID = event("x").replace("UID:x\r\n", "")
HUGE = event("huge", "Huge", extra="DESCRIPTION:" + "x" * 1_000_000 + "\r\n")
ODD_ZONE = event("zone", "Odd zone", tzid="Mars/Olympus_Mons")


def put(server: Server, url: str, text: str) -> None:
    auth = httpx.BasicAuth(server.username, server.password) if server.username else None
    response = httpx.put(url, content=text.encode(), auth=auth, headers={"Content-Type": "text/calendar"}, timeout=30)
    assert response.status_code in (201, 204), response.text


def test_bad_items_are_reported_one_by_one(dav_server: Server, tmp_path: Path) -> None:
    collection = f"bad-{uuid.uuid4().hex[:8]}"
    dav = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    dav.create_calendar(collection)
    url = dav.collection_url(collection)
    for name, text in {"good.ics": event("good", "Good"), "huge.ics": HUGE, "zone.ics": ODD_ZONE}.items():
        put(dav_server, url + name, text)
    if dav_server.kind == "radicale":
        folder = dav_server.root / "collections" / "collection-root" / dav_server.username / collection
        (folder / "garbage.ics").write_text(GARBAGE, encoding="utf-8")
        bad: set[str] = set()  # Radicale leaves a file it cannot parse out of every listing (quirks: hides_unparsable)
    else:
        put(dav_server, url + "nouid.ics", NO_UID)
        bad = {"nouid.ics"}

    business = MemoryConnector("business")
    business.make_collection("cal")
    spec = PairSpec("bad", Endpoint(business, "cal"), Endpoint(dav, collection), window=None)
    report = sync_pair(
        spec, open_store(str(tmp_path / "state.sqlite")), RunOptions(now=datetime(2026, 11, 21, tzinfo=UTC))
    )

    errors = [line for line in report.lines if line.outcome == "error"]
    assert {line.href for line in errors} == bad, errors
    assert report.a.created == 3
    stored = {Content.from_text(t).ident: t for t in business.texts("cal").values()}
    assert set(stored) == {"good", "huge", "zone"}
    assert len(stored["huge"]) > 1_000_000 and "TZID=Mars/Olympus_Mons" in stored["zone"]


@pytest.mark.parametrize("text", [GARBAGE, NO_UID])
def test_the_server_refusing_an_item_is_an_invalid_item(radicale_server: Server, text: str) -> None:
    dav = CalDavConnector(
        radicale_server.calendar_home, username=radicale_server.username, password=radicale_server.password
    )
    collection = f"refuse-{uuid.uuid4().hex[:8]}"
    dav.create_calendar(collection)
    with pytest.raises(InvalidItem, match="refused the content"):
        dav.create(collection, Content.from_text(text), "refused")


def test_xandikos_412_for_bad_data_is_an_invalid_item_not_a_conflict(xandikos_server: Server) -> None:
    dav = CalDavConnector(xandikos_server.calendar_home)
    collection = f"refuse-{uuid.uuid4().hex[:8]}"
    dav.create_calendar(collection)
    with pytest.raises(InvalidItem, match="valid-calendar-data"):
        dav.create(collection, Content.from_text(GARBAGE), "refused")
