"""A NUL character in any input, on the real PostgreSQL (which cannot store one in text).

Why these tests: a NUL used to reach the database, fail there, and come back as a 500 whose text named the
database (host, user, database, schema), also on the routes that need no sign-in; and one such item sank the whole
``PUT /items`` batch. Each input now refuses it where it comes in, and a state error is answered without detail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.crypto import Secret
from calsync.errors import StateError
from calsync.services.accounts import open_accounts
from calsync.web.errors import error_response
from tests.web.api.test_items import Api, _item

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(tmp_path: Path, postgres_url: str) -> Iterator[Api]:
    made = Api(tmp_path, postgres_url)
    with open_accounts(made.settings) as accounts:
        accounts.add("root", Secret("correct horse battery staple"))
    yield made
    made.close()


def _plain(api: Api, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request without the API token, answered as a server would (an escaped exception is a 500)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://calsync.test") as client:
            if method == "SIGN-IN":
                form = await client.get("/admin/sign-in")
                found = re.search(r'name="csrf" value="([^"]+)"', form.text)
                assert found is not None
                return await client.post("/admin/sign-in", data={"csrf": found.group(1), **kwargs["data"]})
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_an_item_with_a_nul_is_refused_on_its_own(api: Api) -> None:
    bad = _item("BAD", title="a\x00b", categories=["ok", "c\x00"])
    reply = api.call("PUT", "/api/v1/items", json={"items": [_item("OK1"), bad, _item("id\x00")]})
    assert reply.status_code == 207, reply.text
    results = reply.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "error"]
    assert "title" in results[1]["error"] and "NUL" in results[1]["error"]
    assert api.call("GET", "/api/v1/items/OK1").status_code == 200


def test_a_nul_in_the_url_is_a_400(api: Api) -> None:
    assert api.call("GET", "/api/v1/items/a%00b").status_code == 400
    assert api.call("GET", "/api/v1/items?id=a%00b").status_code == 400
    assert api.call("GET", "/api/v1/journal?item=a%00").status_code == 400


def test_public_and_sign_in_routes_answer_a_nul_without_a_500(api: Api) -> None:
    graph = {"value": [{"subscriptionId": "a\x00b", "clientState": "x"}]}
    answers = [
        _plain(api, "POST", "/api/v1/notifications/graph", content=json.dumps(graph),
               headers={"content-type": "application/json"}),
        _plain(api, "SIGN-IN", "", data={"username": "a\x00b", "password": "x"}),
        _plain(api, "GET", "/api/v1/admin/integrations", auth=("a\x00b", "x")),
        _plain(api, "POST", "/api/v1/admin/integrations", auth=("root", "correct horse battery staple"),
               json={"name": "n2", "company": "A\x00", "connection_type": "folder", "url": "/tmp/x"}),
    ]  # fmt: skip
    assert [a.status_code for a in answers] == [403, 400, 401, 422]
    assert not any("postgresql" in a.text for a in answers)


def test_a_state_error_is_answered_without_its_detail(caplog: pytest.LogCaptureFixture) -> None:
    error = StateError("state store postgresql+psycopg://calsync@db.internal:5432/prod: disk full")
    with caplog.at_level(logging.ERROR):
        reply = error_response(error)
    assert reply.status_code == 500
    assert json.loads(bytes(reply.body)) == {"detail": "internal error", "error": "StateError"}
    assert "db.internal" in caplog.text  # the operator still finds it in the log
