"""The public Graph notification route through the app in-process (httpx's ASGI transport): the validation
handshake is echoed as plain text, anything that is not a notification of a known subscription with its client
state is a 4xx that changes nothing, and no client state reaches a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from calsync.config import Settings, StateSettings
from calsync.crypto import KEY_ENV, Secret, default_key_file, load_cipher
from calsync.services.notifications import GRAPH_ROUTE
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.notifications import open_notification_store
from calsync.state.notifications_port import GraphSubscriptionRecord
from calsync.state.schedule import open_schedule_store
from calsync.web.api.notifications import MAX_BODY
from calsync.web.app import create_app

pytestmark = pytest.mark.anyio
STATE = "the-client-state-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A Graph integration whose user T1 has the subscription ``sub-1`` with the client state ``STATE``."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    url = str(tmp_path / "state.db")
    admin = open_admin_store(url)
    admin.add_integration(IntegrationRecord("m365", "Contoso", "graph", "app"))
    admin.put_user("m365", UserRecord("T1", "t1@contoso.example"))
    admin.close()
    store = open_notification_store(url)
    now = datetime.now(UTC)
    cipher = load_cipher(default_key_file(url, None))
    record = GraphSubscriptionRecord(
        "m365", "T1", "t1@contoso.example", "sub-1", "/users/t1@contoso.example/events",
        "https://sync.example.com" + GRAPH_ROUTE, cipher.encrypt(Secret(STATE)), now + timedelta(days=2), now,
    )  # fmt: skip
    assert store.put_graph_subscription(record)
    store.close()
    yield Settings(source=None, state=StateSettings(url=url))


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://calsync.test") as made:
        yield made


def requests(settings: Settings) -> list[tuple[str, str | None]]:
    schedule = open_schedule_store(settings.state.url)
    try:
        return [(r.integration, r.business_user) for r in schedule.requests()]
    finally:
        schedule.close()


def notification(state: str = STATE, subscription: str = "sub-1", **extra: object) -> dict[str, object]:
    value = {"subscriptionId": subscription, "clientState": state, "changeType": "created", "tenantId": "t"}
    return {"value": [{**value, "resource": "Users/t1/Events/AAMk1", "resourceData": {"id": "AAMk1"}, **extra}]}


async def test_the_validation_handshake_is_echoed_as_plain_text(client: httpx.AsyncClient) -> None:
    token = "Validation: Testing client application reachability <script>alert(1)</script>"
    answer = await client.post(GRAPH_ROUTE, params={"validationToken": token})
    assert (answer.status_code, answer.text) == (200, token)
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert (await client.post(GRAPH_ROUTE, params={"validationToken": ""})).status_code == 400
    assert (await client.post(GRAPH_ROUTE, params={"validationToken": "x" * 5000})).status_code == 400


async def test_a_notification_with_its_client_state_asks_for_a_run(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await client.post(GRAPH_ROUTE, json=notification())
    assert answer.status_code == 202
    assert requests(settings) == [("m365", "T1")]
    assert STATE not in caplog.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (notification(state="a guess"), 403),
        (notification(state=STATE[:-1]), 403),
        (notification(subscription="sub-unknown"), 403),
        (notification(state=""), 403),
        ({"value": []}, 400),
        ({"value": "x"}, 400),
        ({"something": "else"}, 400),
    ],
)
async def test_anything_else_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, settings: Settings, body: dict[str, object], status: int
) -> None:
    assert (await client.post(GRAPH_ROUTE, json=body)).status_code == status
    assert requests(settings) == []


async def test_malformed_oversized_and_non_json_posts_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    json_type = {"Content-Type": "application/json"}
    assert (await client.post(GRAPH_ROUTE, content=b"{not json", headers=json_type)).status_code == 400
    text = json.dumps(notification()).encode()
    assert (await client.post(GRAPH_ROUTE, content=text, headers={"Content-Type": "text/plain"})).status_code == 415
    big = b'{"value": [' + b" " * (MAX_BODY + 1) + b"]}"
    assert (await client.post(GRAPH_ROUTE, content=big, headers=json_type)).status_code == 413
    assert (await client.get(GRAPH_ROUTE)).status_code == 405
    assert requests(settings) == []
