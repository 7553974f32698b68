"""What the application adds to every answer, whatever the route."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.api.test_items import Api, _item


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path, str(tmp_path / "state.db"))


def test_answers_holding_users_data_are_never_stored_by_a_cache(api: Api) -> None:
    assert api.call("PUT", "/api/v1/items", json={"items": [_item("A1")]}).status_code in (200, 207)
    for path in ("/api/v1/items/A1", "/api/v1/feed?since=0", "/health", "/api/v1/items/missing"):
        reply = api.call("GET", path)
        assert reply.headers["cache-control"] == "no-store", (path, reply.status_code)
    assert (
        api.call("GET", "/api/v1/items", headers={"Authorization": "Bearer wrong"}).headers["cache-control"]
        == "no-store"
    )


def test_the_admin_style_sheet_may_be_cached(api: Api) -> None:
    reply = api.call("GET", "/admin/static/admin.css")
    assert reply.status_code == 200
    assert "cache-control" not in reply.headers
    assert "etag" in reply.headers
