"""Integrations and users over the admin API, with a local admin account over HTTP Basic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.config import Settings, StateSettings
from calsync.crypto import Secret
from calsync.services.accounts import open_accounts
from calsync.web.app import create_app
from tests.services.test_integrations import pem_file

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    made = Settings(tmp_path / "calsync.toml", StateSettings(str(tmp_path / "state.db")))
    with open_accounts(made) as accounts:
        accounts.add("root", Secret(PASSWORD))
    return made


def call(
    settings: Settings, method: str, path: str, *, auth: tuple[str, str] | None = ("root", PASSWORD), **kwargs: Any
) -> httpx.Response:
    app = create_app(settings)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://calsync.test", auth=auth) as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_integrations_and_users_round_trip_without_ever_returning_a_secret(settings: Settings) -> None:
    secret = "dav-password-never-shown"
    body = {
        "name": "acme",
        "company": "ACME",
        "connection_type": "caldav",
        "url": "https://dav.example.com/",
        "username": "calsync",
        "password": secret,
    }
    added = call(settings, "POST", "/api/v1/admin/integrations", json=body)
    assert added.status_code == 201, added.text
    assert added.json()["has_password"] is True and secret not in added.text
    user = call(
        settings,
        "POST",
        "/api/v1/admin/integrations/acme/users",
        json={"business_user": "T1", "mailbox": "anna", "tasks": False},
    )
    assert user.status_code == 201 and user.json()["tasks"] is False and user.json()["contacts"] is True
    changed = call(settings, "PATCH", "/api/v1/admin/integrations/acme", json={"days_back": 10})
    assert changed.json()["days_back"] == 10 and changed.json()["has_password"] is True
    shown = call(settings, "GET", "/api/v1/admin/integrations/acme")
    assert [u["mailbox"] for u in shown.json()["users"]] == ["anna"] and secret not in shown.text
    assert secret not in call(settings, "GET", "/api/v1/admin/integrations").text
    assert call(settings, "DELETE", "/api/v1/admin/integrations/acme/users/T1").status_code == 204
    assert call(settings, "DELETE", "/api/v1/admin/integrations/acme").status_code == 204
    assert call(settings, "GET", "/api/v1/admin/integrations").json() == {"integrations": []}


def test_a_ca_bundle_is_set_returned_and_cleared(settings: Settings, tmp_path: Path) -> None:
    ca = tmp_path / "company-ca.pem"
    pem_file(ca)
    body = {"name": "exch", "company": "ACME", "connection_type": "ews", "auth_mode": "impersonation",
            "url": "https://mail.acme.test/EWS/Exchange.asmx", "username": "svc@acme.test", "password": "pw-4711",
            "ca_bundle": str(ca)}  # fmt: skip
    added = call(settings, "POST", "/api/v1/admin/integrations", json=body)
    assert added.status_code == 201 and added.json()["ca_bundle"] == str(ca), added.text
    assert call(settings, "GET", "/api/v1/admin/integrations/exch").json()["ca_bundle"] == str(ca)
    missing = call(settings, "PATCH", "/api/v1/admin/integrations/exch", json={"ca_bundle": str(tmp_path / "no.pem")})
    assert missing.status_code == 422 and "ca_bundle" in missing.text and "no such file" in missing.text
    cleared = call(settings, "PATCH", "/api/v1/admin/integrations/exch", json={"ca_bundle": ""})
    assert cleared.status_code == 200 and cleared.json()["ca_bundle"] == ""


def test_a_bad_field_is_named(settings: Settings) -> None:
    reply = call(
        settings,
        "POST",
        "/api/v1/admin/integrations",
        json={"name": "acme", "company": "ACME", "connection_type": "caldav", "url": "ftp://x"},
    )
    assert reply.status_code == 422 and "url" in reply.text


def test_admin_routes_need_the_admin_and_lock_out_after_failures(settings: Settings) -> None:
    assert call(settings, "GET", "/api/v1/admin/integrations", auth=None).status_code == 401
    for _ in range(5):
        wrong = call(settings, "GET", "/api/v1/admin/integrations", auth=("root", "nope"))
        assert wrong.status_code == 401
    locked = call(settings, "GET", "/api/v1/admin/integrations")
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
