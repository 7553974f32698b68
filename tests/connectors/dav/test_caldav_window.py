"""The sync window on real servers: asked of the server by calendar-query where that is cheap (Radicale), applied
by the engine to what it reads where the server parses every item of the calendar for each query (Xandikos,
``quirks.time_range_query``). Either way only what overlaps the window is synced."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.connectors.memory import MemoryConnector
from calsync.model.canonical import scan
from calsync.model.content import Content
from calsync.model.window import Window
from calsync.state.sql import open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.connectors.dav.servers import Server
from tests.samples import event, task

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


class Recording(httpx.BaseTransport):
    """Forwards to the real server and keeps each request's method and body."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[tuple[str, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.read()))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def calendar_queries(self) -> int:
        return sum(1 for method, body in self.sent if method == "REPORT" and b"calendar-query" in body)


def test_a_windowed_download_brings_only_what_overlaps_the_window(dav_server: Server, tmp_path: Path) -> None:
    seed = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    collection = f"window-{uuid.uuid4().hex[:8]}"
    seed.create_calendar(collection)
    for uid, text in (
        ("in", event("in", day="20261125")),
        ("out", event("out", day="20270601")),
        ("due", task("due", due="20261124")),
    ):
        seed.create(collection, Content.from_text(text), uid)
    recording = Recording()
    dav = CalDavConnector(
        dav_server.calendar_home, username=dav_server.username, password=dav_server.password, transport=recording
    )
    business = MemoryConnector("business")
    business.make_collection("cal")
    store = open_store(str(tmp_path / "state.sqlite"))
    spec = PairSpec(collection, Endpoint(business, "cal"), Endpoint(dav, collection), window=(30, 30))

    first = sync_pair(spec, store, RunOptions(now=NOW))
    again = sync_pair(spec, store, RunOptions(now=NOW))

    assert sorted(scan(text).facts.ident for text in business.texts("cal").values()) == ["due", "in"]
    assert first.writes == 2 and again.writes == 0
    asks_server = dav_server.kind == "radicale"
    assert dav.capabilities.filters_window is asks_server
    assert (recording.calendar_queries() > 0) is asks_server


def test_the_window_is_left_to_the_engine_on_xandikos_only() -> None:
    home = "http://127.0.0.1:1/dav/"
    assert not CalDavConnector(home, server="xandikos").capabilities.filters_window
    assert CalDavConnector(home, server="radicale").capabilities.filters_window
    assert CalDavConnector(home).capabilities.filters_window  # until a response names the server
    assert CardDavConnector(home, server="xandikos").capabilities.filters_window  # contacts have no time


def test_a_detected_xandikos_lists_every_item_for_a_window() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        body = b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"/>'
        return httpx.Response(207, content=body, headers={"Server": "Python/3.13 aiohttp/3.12"})

    dav = CalDavConnector("http://127.0.0.1:1/dav/", transport=httpx.MockTransport(answer))
    dav.changes("cal", None)
    assert not dav.capabilities.filters_window
    assert dav.list("cal", Window.around(NOW, 30, 30)) == []
    assert sent == ["REPORT", "PROPFIND"]
