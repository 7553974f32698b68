"""The business REST API through the ASGI transport, on SQLite and on the real PostgreSQL: items in, the change
feed out, and the calendars as real folders of .ics files edited the way a client edits them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.config import Settings, StateSettings
from calsync.model.content import Content
from calsync.model.ical import ical_to_item
from calsync.services.access import open_access
from calsync.services.integrations import IntegrationInput, UserPatch, open_integrations
from calsync.web.app import create_app

START = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


def _item(business_id: str, user: str = "tech1", **fields: Any) -> dict[str, Any]:
    data = {
        "id": business_id,
        "user": user,
        "title": f"Visit {business_id}",
        "start": START.isoformat(),
        "end": (START + timedelta(hours=1)).isoformat(),
    }
    data.update(fields)
    return data


class Api:
    """A test client of one app with one integration (``acme``, folder calendars) and its token."""

    def __init__(self, tmp_path: Path, state_url: str) -> None:
        self.root = tmp_path / "cal"
        self.root.mkdir()
        self.settings = Settings(tmp_path / "calsync.toml", StateSettings(state_url))
        with open_integrations(self.settings) as service:
            service.add(IntegrationInput(name="acme", company="ACME", connection_type="folder", url=str(self.root)))
            for user in ("tech1", "tech2"):
                service.add_user("acme", user, user)
        with open_access(self.settings) as access:
            self.token = access.tokens.create("acme", "erp").plain.reveal()
        self.app = create_app(self.settings)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://calsync.test") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(go())

    def sync(self) -> dict[str, Any]:
        reply = self.call("POST", "/api/v1/sync", json={})
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        assert all(p["error"] is None for p in body["pairs"]), body
        return body

    def calendar(self, user: str) -> dict[str, Path]:
        folder = self.root / user
        return {ical_to_item(p.read_text()).title: p for p in folder.glob("*.ics")} if folder.exists() else {}

    def edit(self, user: str, title: str, /, **changes: Any) -> None:
        path = self.calendar(user)[title]
        path.write_text(Content.from_item(replace(ical_to_item(path.read_text()), **changes)).text)

    def feed(self, since: int = 0) -> list[dict[str, Any]]:
        reply = self.call("GET", f"/api/v1/feed?since={since}")
        assert reply.status_code == 200
        entries: list[dict[str, Any]] = reply.json()["entries"]
        return entries

    def close(self) -> None:
        hub = self.app.state.context.extras.get("hub")
        if hub is not None:
            hub.close()
        access = self.app.state.context.extras.get("access")
        if access is not None:
            access.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = str(tmp_path / "state.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    made = Api(tmp_path, url)
    yield made
    made.close()


def test_items_round_trip_idempotently_and_reach_the_calendars(api: Api) -> None:
    reply = api.call("PUT", "/api/v1/items", json={"items": [_item("A1"), _item("A2", "tech2", location="Depot")]})
    assert reply.status_code == 200
    assert [r["status"] for r in reply.json()["results"]] == ["created", "created"]
    again = api.call("PUT", "/api/v1/items", json={"items": [_item("A1")]})
    assert again.json()["results"][0]["status"] == "unchanged"
    read = api.call("GET", "/api/v1/items/A2").json()
    assert (read["title"], read["location"], read["user"], read["deleted"]) == ("Visit A2", "Depot", "tech2", False)
    assert api.call("GET", "/api/v1/items?id=A1&id=nope").json()["missing"] == ["nope"]
    api.sync()
    assert set(api.calendar("tech1")) == {"Visit A1"} and set(api.calendar("tech2")) == {"Visit A2"}
    assert api.call("DELETE", "/api/v1/items/A1").json()["status"] == "deleted"
    api.sync()
    assert api.calendar("tech1") == {}
    assert api.call("GET", "/api/v1/items/zzz").status_code == 404


def test_two_technicians_reassignment_through_the_api(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("AS1", kind="assignment", title="Repair")]})
    api.sync()
    assert "Repair" in api.calendar("tech1")
    api.call("PUT", "/api/v1/items", json={"items": [_item("AS1", "tech2", kind="assignment", title="Repair")]})
    api.sync()
    assert "Repair" not in api.calendar("tech1")
    assert "Repair" in api.calendar("tech2")


def test_order_line_edited_and_deleted_in_the_calendar_through_the_api(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("OL1", kind="order-line", title="Order line")]})
    api.sync()
    api.edit("tech1", "Order line", title="Mine now")
    api.sync()
    assert set(api.calendar("tech1")) == {"Order line"}
    api.calendar("tech1")["Order line"].unlink()
    api.sync()
    assert set(api.calendar("tech1")) == {"Order line"}
    assert api.feed() == []


def test_private_flag_set_after_sync_through_the_api(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("A1", title="Boiler")]})
    api.sync()
    from calsync.model.item import Sensitivity

    api.edit("tech1", "Boiler", sensitivity=Sensitivity.PRIVATE)
    api.sync()
    entries = api.feed()
    assert [(e["id"], e["change"], e["item"]["private"]) for e in entries] == [("A1", "updated", True)]
    assert api.call("GET", "/api/v1/items/A1").json()["private"] is True


def test_sync_tagged_import_is_flagged_for_review_and_can_be_marked_reviewed(api: Api) -> None:
    assert api.call("PUT", "/api/v1/rules", json={"selection": {"tag": "[sync]"}}).status_code == 200
    folder = api.root / "tech1"
    folder.mkdir(exist_ok=True)
    for uid, title in (("c1", "Lunch"), ("c2", "Customer call [sync]")):
        item = replace(ical_to_item(_ics(uid, title)), uid=uid)
        (folder / f"{uid}.ics").write_text(Content.from_item(item).text)
    api.sync()
    entries = api.feed()
    assert [(e["change"], e["item"]["title"], e["needs_review"], e["user"]) for e in entries] == [
        ("created", "Customer call [sync]", True, "tech1")
    ]
    assert api.call("POST", "/api/v1/feed/reviewed", json={"ids": [entries[0]["id"]]}).json() == {"reviewed": 1}
    assert api.feed()[0]["needs_review"] is False
    assert api.feed(since=entries[-1]["cursor"]) == []


def test_journal_and_restore_through_the_api(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("A1", title="Boiler")]})
    api.sync()
    api.calendar("tech1")["Boiler"].unlink()
    api.sync()
    assert api.call("GET", "/api/v1/items/A1").json()["deleted"] is True
    entries = api.call("GET", "/api/v1/journal?item=A1").json()["entries"]
    first = entries[0]
    assert (first["side"], first["action"], first["rule"]) == ("business", "deleted", "deleted on B")
    restored = api.call("POST", f"/api/v1/journal/{entries[0]['id']}/restore")
    assert restored.status_code == 200 and restored.json()["deleted"] is False
    api.sync()
    assert "Boiler" in api.calendar("tech1")


def test_the_journal_reads_page_by_page(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("A1"), _item("A2")]})
    api.sync()
    first = api.call("GET", "/api/v1/journal?limit=1").json()
    (newest,) = first["entries"]
    assert first["older"] == newest["id"]
    second = api.call("GET", f"/api/v1/journal?limit=1&older_than={first['older']}").json()
    (older,) = second["entries"]
    assert older["id"] < newest["id"] and {older["id"], newest["id"]} == {e["id"] for e in _journal(api)}
    assert second["older"] is None
    assert api.call("GET", "/api/v1/journal?older_than=0").status_code == 422
    assert api.call("GET", f"/api/v1/journal?older_than={2**63}").status_code == 422


def _journal(api: Api) -> list[dict[str, Any]]:
    answer = api.call("GET", "/api/v1/journal").json()
    assert answer["older"] is None
    entries: list[dict[str, Any]] = answer["entries"]
    return entries


def test_preview_and_held_deletions_through_the_api(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item(f"A{n}") for n in range(6)]})
    preview = api.call("POST", "/api/v1/preview", json={"users": ["tech1"]}).json()
    lines = [line for p in preview["pairs"] for line in p["lines"]]
    assert {(line["action"], line["rule"]) for line in lines} == {("create", "new on A")}
    assert api.calendar("tech1") == {}
    api.sync()
    for path in api.calendar("tech1").values():
        path.unlink()
    api.sync()
    held = api.call("GET", "/api/v1/held").json()["held"]
    assert len(held) == 6 and all(h["pair"] == "acme/tech1/events" for h in held)
    rejected = api.call("POST", "/api/v1/held/reject", json={"users": ["tech1"]})
    assert rejected.status_code == 200
    assert len(api.calendar("tech1")) == 6


def _ics(uid: str, title: str) -> str:
    start = START.strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\nSUMMARY:{title}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


# -- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (_item("B1", start="tomorrow"), "items[1].start"),
        (_item("B1", kind="meeting"), "items[1].kind"),
        (_item("B1", time_zone="Mars/Olympus", start="2026-12-01T09:00:00", end="2026-12-01T10:00:00"), "time_zone"),
        (_item("B1", end=START.isoformat(), start=(START + timedelta(hours=2)).isoformat()), "end is before start"),
        (_item("B1", colour="red"), "items[1].colour"),
        (_item("B1", user=""), "needs user"),
        (_item("B1", user="stranger"), "not a user of integration"),
    ],
)
def test_a_bad_item_is_refused_naming_its_field_and_the_rest_of_the_batch_is_stored(
    api: Api, item: dict[str, Any], field: str
) -> None:
    reply = api.call("PUT", "/api/v1/items", json={"items": [_item("G1"), item]})
    assert reply.status_code == 207, reply.text
    good, bad = reply.json()["results"]
    assert good == {"id": "G1", "status": "created", "version": 1}
    assert bad["status"] == "error" and field in bad["error"], bad
    assert api.call("GET", "/api/v1/items/B1").status_code == 404


def test_malformed_oversized_and_mistyped_bodies_get_clear_errors_and_write_nothing(api: Api) -> None:
    assert (
        api.call(
            "PUT", "/api/v1/items", content=b'{"items": [', headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    huge = json.dumps({"items": [_item("H1", description="x" * 9_000_000)]}).encode()
    assert (
        api.call("PUT", "/api/v1/items", content=huge, headers={"content-type": "application/json"}).status_code == 413
    )
    assert api.call("PUT", "/api/v1/items", content=b"id=1", headers={"content-type": "text/plain"}).status_code == 415
    assert api.call("PUT", "/api/v1/items", json={"items": "all"}).status_code == 422
    too_many = {"items": [_item(f"M{n}") for n in range(501)]}
    assert api.call("PUT", "/api/v1/items", json=too_many).status_code == 413
    only_bad = api.call("PUT", "/api/v1/items", json={"items": [_item("X1", kind="nope")]})
    assert only_bad.status_code == 422
    assert api.call("GET", "/api/v1/items?id=H1&id=M0&id=X1").json()["items"] == []
    assert api.call("PUT", "/api/v1/rules", json={"selection": {"tag": 5}}).status_code == 422


def test_a_wrong_or_revoked_token_is_refused(api: Api) -> None:
    assert api.call("GET", "/api/v1/feed", headers={"Authorization": "Bearer cs_nope_nope"}).status_code == 401
    assert api.call("GET", "/api/v1/feed", headers={"Authorization": ""}).status_code == 401
    with open_access(api.settings) as access:
        access.tokens.revoke("acme", "erp")
    reply = api.call("PUT", "/api/v1/items", json={"items": [_item("R1")]})
    assert reply.status_code == 401
    assert "Bearer" in reply.headers["www-authenticate"]


def test_health_answers_without_a_token_and_stopping_the_app_closes_its_services(tmp_path: Path) -> None:
    made = Api(tmp_path, str(tmp_path / "state.db"))

    async def go() -> None:
        async with made.app.router.lifespan_context(made.app):
            transport = httpx.ASGITransport(app=made.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://calsync.test") as client:
                assert (await client.get("/health")).json()["status"] == "ok"
                auth = {"Authorization": f"Bearer {made.token}"}
                assert (await client.get("/api/v1/feed", headers=auth)).status_code == 200
            assert set(made.app.state.context.extras) >= {"hub", "access"}

    asyncio.run(go())
    assert made.app.state.context.extras == {}


def test_jobs_of_the_tokens_integration_with_their_lines(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("A1", title="Boiler")]})
    api.sync()
    jobs = api.call("GET", "/api/v1/jobs").json()["jobs"]
    events = next(j for j in jobs if j["pair"] == "acme/tech1/events")
    assert events["outcome"] == "completed" and events["counts"]["b.created"] == 1
    detail = api.call("GET", f"/api/v1/jobs/{events['id']}").json()
    assert [(line["action"], line["rule"]) for line in detail["lines"]] == [("create", "new on A")]
    assert api.call("GET", "/api/v1/jobs/999999").status_code == 404


def test_json_nested_past_the_parsers_stack_is_a_400(tmp_path: Path) -> None:
    """json.loads raises RecursionError (not a JSONDecodeError) on deep nesting: it escaped as a 500."""
    api = Api(tmp_path, str(tmp_path / "state.db"))
    deep = "[" * 50_000 + "]" * 50_000
    try:
        headers = {"content-type": "application/json"}
        rules = api.call("PUT", "/api/v1/rules", content=deep, headers=headers)
        items = api.call("PUT", "/api/v1/items", content='{"items":' + deep + "}", headers=headers)
        assert (rules.status_code, items.status_code) == (400, 400)
        assert "nested too deeply" in rules.json()["detail"]
    finally:
        api.close()


def test_a_user_moved_to_another_mailbox_gets_every_item_there_and_the_business_loses_none(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2", kind="order-line", title="Line")]})
    api.sync()
    assert set(api.calendar("tech1")) == {"Visit M1", "Line"}
    with open_integrations(api.settings) as service:
        service.update_user("acme", "tech1", UserPatch(mailbox="tech1-new"))
    body = api.sync()
    assert set(api.calendar("tech1-new")) == {"Visit M1", "Line"}, body
    assert [api.call("GET", f"/api/v1/items/{i}").json()["deleted"] for i in ("M1", "M2")] == [False, False]
    assert api.feed() == []
