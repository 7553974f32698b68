"""Every route of the app, walked from its route table: none but the public ones answers without a session.

A route added later is covered without editing this test; a new public route must be named in ``PUBLIC``.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

pytestmark = pytest.mark.anyio

PUBLIC = {
    "/health",
    "/docs",
    "/docs/oauth2-redirect",
    "/openapi.json",
    "/admin/sign-in",
    "/admin/static",
    # Microsoft Graph posts change notifications without a token: each is authenticated by its subscription's
    # clientState instead, and anything else is refused (tests/web/api/test_notifications.py).
    "/api/v1/notifications/graph",
}
"""Answered to anyone: liveness, the API's documentation, the sign-in page, the admin stylesheet and the Graph
notification callback."""
_PARAM = re.compile(r"\{[^}]+\}")


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the app with its path parameters filled in, HEAD and OPTIONS left out."""
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None or path in PUBLIC or isinstance(route.original_route, Mount):
            continue
        for method in sorted(set(route.methods or ()) - {"HEAD", "OPTIONS"}):
            found.append((method, _PARAM.sub("1", path)))
    return found


def test_the_walk_sees_the_admin_pages(app: FastAPI) -> None:
    walked = routes(app)
    assert ("GET", "/admin/integrations") in walked
    assert ("POST", "/admin/integrations/1/users/1") in walked
    assert ("GET", "/admin/jobs/1") in walked
    assert len([r for r in walked if r[1].startswith("/admin")]) >= 15


async def test_every_non_public_route_needs_a_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    for method, path in routes(app):
        answer = await client.request(method, path, data={"csrf": "x"} if method != "GET" else None)
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/admin/sign-in"), (method, path)
        else:
            assert answer.status_code == 401, (method, path, answer.status_code)
        if path.startswith("/admin"):
            assert answer.status_code == 303, (method, path)


async def test_the_public_admin_paths_answer_without_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/sign-in")).status_code == 200
    css = await client.get("/admin/static/admin.css")
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]
