"""Signing in and out through the ASGI transport: cookies, wrong passwords, lock-out, CSRF and open redirects."""

from __future__ import annotations

import httpx
import pytest

from calsync.services.accounts import MAX_FAILURES
from tests.web.admin.conftest import PASSWORD, Admin, token_of

pytestmark = pytest.mark.anyio


async def test_a_page_without_a_session_goes_to_the_sign_in_page_and_back(client: httpx.AsyncClient) -> None:
    answer = await client.get("/admin/integrations/acme/users")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/sign-in?next=/admin/integrations/acme/users"
    form = await client.get(answer.headers["location"])
    assert 'name="next" value="/admin/integrations/acme/users"' in form.text


async def test_signing_in_sets_a_session_cookie_httponly_samesite_lax(client: httpx.AsyncClient) -> None:
    admin = Admin(client)
    answer = await admin.sign_in()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/integrations"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("calsync_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/admin"} <= flags
    page = await client.get("/admin/integrations")
    assert page.status_code == 200
    assert "Signed in as ann" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_over_https_the_cookie_is_secure(app: object) -> None:
    transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        answer = await Admin(client).sign_in()
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("calsync_session="))
    assert "secure" in cookie.lower()


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client: httpx.AsyncClient) -> None:
    wrong = await Admin(client).sign_in(password="not the password")
    assert wrong.status_code == 401
    assert "Wrong name or password." in wrong.text
    assert "not the password" not in wrong.text
    assert 'value="ann"' in wrong.text  # the name is kept for the next try
    unknown = await Admin(client).sign_in(username="nobody")
    assert unknown.status_code == 401
    assert "Wrong name or password." in unknown.text
    assert (await client.get("/admin/integrations")).status_code == 303


async def test_repeated_failures_lock_the_name_even_for_the_right_password(client: httpx.AsyncClient) -> None:
    admin = Admin(client)
    statuses = [(await admin.sign_in(password="guess")).status_code for _ in range(MAX_FAILURES)]
    assert statuses == [401] * (MAX_FAILURES - 1) + [429]
    locked = await admin.sign_in(password=PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins under this name" in locked.text
    assert (await client.get("/admin/integrations")).status_code == 303


async def test_the_sign_in_form_needs_its_own_token(client: httpx.AsyncClient) -> None:
    data = {"username": "ann", "password": PASSWORD}
    assert (await client.post("/admin/sign-in", data=data)).status_code == 403
    form = await client.get("/admin/sign-in")
    client.cookies.clear()  # a page on another site cannot set our cookie
    assert (await client.post("/admin/sign-in", data={**data, "csrf": token_of(form)})).status_code == 403


async def test_a_post_without_the_sessions_csrf_token_is_refused(admin: Admin) -> None:
    data = {"name": "acme", "company": "ACME", "connection_type": "folder", "auth_mode": "delegate", "url": "/srv/cal",
            "days_back": "1", "days_forward": "1", "interval_minutes": "5", "full_sync_minutes": "0"}  # fmt: skip
    for token in ("", "forged-token"):
        refused = await admin.client.post("/admin/integrations/new", data={**data, "csrf": token})
        assert refused.status_code == 403
        assert "Form refused" in refused.text
    assert (await admin.get("/admin/integrations/acme")).status_code == 404  # nothing was added
    assert (await admin.post("/admin/integrations/new", data)).status_code == 303


async def test_sign_out_ends_the_session_on_the_server(admin: Admin) -> None:
    stolen = admin.client.cookies["calsync_session"]
    assert (await admin.client.post("/admin/sign-out", data={})).status_code == 403  # sign-out needs the token too
    out = await admin.post("/admin/sign-out")
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/sign-in?note=signed-out"
    assert "You are signed out." in (await admin.get(out.headers["location"])).text
    admin.client.cookies.set("calsync_session", stolen, domain="testserver.local", path="/admin")
    assert (await admin.get("/admin/integrations")).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/elsewhere", "/admin/x:y"])
async def test_after_sign_in_the_admin_never_leaves_the_admin_pages(client: httpx.AsyncClient, target: str) -> None:
    form = await client.get("/admin/sign-in")
    data = {"csrf": token_of(form), "username": "ann", "password": PASSWORD, "next": target}
    answer = await client.post("/admin/sign-in", data=data)
    assert answer.headers["location"] == "/admin/integrations"


async def test_a_signed_in_admin_skips_the_sign_in_form(admin: Admin) -> None:
    answer = await admin.get("/admin/sign-in?next=/admin/jobs")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/jobs"
