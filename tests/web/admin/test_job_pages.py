"""The scheduling pages through the ASGI transport, on jobs recorded by real runs of a folder integration."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from calsync.config import Settings
from calsync.model.item import Item, ItemKind
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_sync import sync_integration
from calsync.services.integrations import IntegrationInput, open_integrations
from calsync.services.jobs import WAKE_EXTRA, DayCounts, open_schedule
from calsync.state.store import JobKind
from calsync.web.admin.chart import layout
from tests.web.admin.conftest import Admin

pytestmark = pytest.mark.anyio
BROKEN = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:broken\r\nDTSTART:notadate\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def synced(settings: Settings, tmp_path: Path) -> Path:
    """Integration ``acme`` on a folder with user anna, one business item synced, then a run meeting a broken file."""
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    with open_integrations(settings) as service:
        service.add(IntegrationInput("acme", "ACME", "folder", url=str(calendars)))
        service.add_user("acme", "anna", "anna")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    item = Item(uid="", kind=ItemKind.EVENT, title="Boiler service", start=start, end=start + timedelta(hours=1))
    with open_hub(settings) as hub:
        hub.put_items("acme", [BusinessItem("order-1", "anna", item)])
    sync_integration(settings, "acme", kind=JobKind.MANUAL, full=True)
    (calendars / "anna" / "broken.ics").write_text(BROKEN, encoding="utf-8")
    sync_integration(settings, "acme", kind=JobKind.MANUAL, full=True)
    return calendars


async def test_the_history_lists_the_jobs_newest_first_with_their_outcome(admin: Admin, synced: Path) -> None:
    page = await admin.get("/admin/jobs")
    assert page.status_code == 200
    jobs = re.findall(r'<a href="/admin/jobs/(\d+)">#\d+</a></th>\s*<td>acme</td><td>acme/anna/events</td>', page.text)
    assert jobs == ["2", "1"]
    assert '<span class="badge warn">Completed with warnings</span>' in page.text
    assert '<span class="badge ok">Completed</span>' in page.text
    assert '<span class="badge ok">online</span>' in page.text
    assert 'aria-label="Sync acme now"' in page.text
    only = await admin.get("/admin/jobs?integration=acme")
    assert "<h2>Jobs of acme</h2>" in only.text
    assert (await admin.get("/admin/jobs?integration=nothing")).status_code == 404


async def test_a_jobs_details_show_counts_per_side_and_item_lines_with_rule_and_error(
    admin: Admin, synced: Path
) -> None:
    first = await admin.get("/admin/jobs/1")
    assert first.status_code == 200
    counts = re.search(r'<th scope="row">Calendar</th>((?:<td>\d+</td>)+)</tr>', first.text)
    assert counts is not None
    assert re.findall(r"<td>(\d+)</td>", counts.group(1)) == ["1", "0", "0", "0", "0", "0", "0"]  # created first
    assert "Boiler service" in first.text
    assert "<td>create</td><td>done</td><td>new on A</td>" in first.text
    second = await admin.get("/admin/jobs/2")
    assert '<tr class="bad">' in second.text
    assert "not a date or date-time: &#39;notadate&#39;" in second.text
    assert "broken.ics" in second.text
    assert (await admin.get("/admin/jobs/999")).status_code == 404


async def test_the_chart_draws_the_days_items_and_errors(admin: Admin, synced: Path) -> None:
    page = await admin.get("/admin/jobs")
    today = datetime.now(UTC).date().isoformat()
    assert f"<title>{today}: 1 items synced</title>" in page.text
    assert f"<title>{today}: 1 errors</title>" in page.text
    assert len(re.findall(r'<rect class="items"', page.text)) == 14


async def test_sync_now_asks_the_scheduler_and_wakes_it(
    app: FastAPI, admin: Admin, synced: Path, settings: Settings
) -> None:
    woken: list[bool] = []
    app.state.context.extras[WAKE_EXTRA] = lambda: woken.append(True)
    asked = await admin.post("/admin/integrations/acme/sync")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/admin/jobs?integration=acme&note=sync-asked"
    assert woken == [True]
    schedule = open_schedule(settings)
    try:
        assert [r.integration for r in schedule.requests()] == ["acme"]
    finally:
        schedule.close()
    user = await admin.post("/admin/integrations/acme/users/anna/sync")
    assert user.headers["location"] == "/admin/jobs?integration=acme&note=sync-asked"
    schedule = open_schedule(settings)
    try:
        assert [(r.integration, r.business_user) for r in schedule.requests()] == [("acme", None), ("acme", "anna")]
    finally:
        schedule.close()
    assert (await admin.post("/admin/integrations/acme/users/nobody/sync")).status_code == 404
    assert (await admin.post("/admin/integrations/nothing/sync")).status_code == 404
    assert (await admin.post("/admin/integrations/acme/retry")).status_code == 303


def test_the_chart_layout_scales_to_the_largest_day() -> None:
    days = [DayCounts(date(2026, 11, 1) + timedelta(days=n), items, errors) for n, (items, errors) in
            enumerate([(0, 0), (40, 3), (7, 0)])]  # fmt: skip
    chart = layout(days)
    items = [bar for bar in chart.bars if bar.kind == "items"]
    errors = [bar for bar in chart.bars if bar.kind == "errors"]
    assert items[0].height == 0
    assert items[1].height == pytest.approx((chart.baseline - chart.top) * 40 / 50, abs=0.1)  # the scale tops at 50
    assert items[1].y + items[1].height == pytest.approx(chart.baseline, abs=0.1)
    assert errors[1].x > items[1].x
    assert [tick.text for tick in chart.values] == ["0", "25", "50"]
    assert items[1].label == "2026-11-02: 40 items synced"
    assert layout([]).bars == ()
