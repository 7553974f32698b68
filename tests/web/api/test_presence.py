"""Presence through the REST API (ASGI transport, folder calendars): one user, every user, and the token's scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from calsync.model.content import Content
from calsync.model.ical import ical_to_item
from calsync.model.item import Sensitivity
from calsync.services.access import open_access
from calsync.services.integrations import IntegrationInput, open_integrations
from tests.web.api.test_items import START, Api, _item


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path, str(tmp_path / "state.db"))
    yield made
    made.close()


def test_a_synced_appointment_makes_its_user_busy(api: Api) -> None:
    assert api.call("PUT", "/api/v1/items", json={"items": [_item("A1")]}).status_code == 200
    api.sync()
    at = (START + timedelta(minutes=30)).isoformat()
    reply = api.call("GET", "/api/v1/presence/tech1", params={"at": at})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "at": at,
        "user": "tech1",
        "status": "meeting",
        "since": START.isoformat(),
        "until": (START + timedelta(hours=1)).isoformat(),
        "subject": "Visit A1",
        "out_of_office_text": "",
        "source": "calendar",
        "error": None,
    }
    doctor = replace(ical_to_item(api.calendar("tech1")["Visit A1"].read_text()), uid="doctor", title="Doctor")
    moved = replace(doctor, start=START + timedelta(hours=2), end=START + timedelta(hours=3))
    (api.root / "tech1" / "doctor.ics").write_text(
        Content.from_item(replace(moved, sensitivity=Sensitivity.PRIVATE)).text
    )
    later = api.call(
        "GET", "/api/v1/presence/tech1", params={"at": (START + timedelta(hours=2, minutes=5)).isoformat()}
    )
    assert (later.json()["status"], later.json()["subject"]) == (
        "meeting",
        "",
    )  # a private entry made in the calendar: no subject
    free = api.call("GET", "/api/v1/presence/tech1", params={"at": (START + timedelta(hours=1)).isoformat()})
    assert free.json()["status"] == "available"


def test_every_user_with_one_failing_mailbox_as_a_line(api: Api) -> None:
    with open_integrations(api.settings) as service:
        service.add_user("acme", "tech3", "not/a/folder")
    reply = api.call("GET", "/api/v1/presence", params={"at": START.isoformat()})
    assert reply.status_code == 200, reply.text
    users = {line["user"]: line for line in reply.json()["users"]}
    assert [users[u]["status"] for u in ("tech1", "tech2", "tech3")] == ["available", "available", "unknown"]
    assert "cannot name a collection" in users["tech3"]["error"] and users["tech1"]["error"] is None


def test_only_the_tokens_integration_and_only_with_a_token(api: Api) -> None:
    with open_integrations(api.settings) as service:
        service.add(
            IntegrationInput(name="other", company="Other", connection_type="folder", url=str(api.root / "other"))
        )
    with open_access(api.settings) as access:
        other = access.tokens.create("other", "erp").plain.reveal()
    refused = api.call("GET", "/api/v1/presence/tech1", headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 422 and "'tech1' is not a user of other" in refused.json()["detail"]
    assert api.call("GET", "/api/v1/presence/nobody").status_code == 422
    assert api.call("GET", "/api/v1/presence", headers={"Authorization": ""}).status_code == 401
    naive = api.call("GET", "/api/v1/presence/tech1", params={"at": "2026-11-09T08:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
