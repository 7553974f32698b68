"""An app on a fresh SQLite state with one admin account, and a client that signs in like a browser does.

The client talks to the app in-process through httpx's ASGI transport (no socket), keeping cookies between
requests as a browser would; ``Admin`` reads each page's CSRF token the way the page's own forms carry it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from calsync.config import Settings, StateSettings
from calsync.crypto import KEY_ENV, Secret
from calsync.services.accounts import open_accounts
from calsync.web.app import create_app

USERNAME = "ann"
PASSWORD = "admin password never rendered"
_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(KEY_ENV, raising=False)  # the key file next to the database serves
    made = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    with open_accounts(made) as accounts:
        accounts.add(USERNAME, Secret(PASSWORD))
    return made


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


def token_of(page: httpx.Response) -> str:
    """The CSRF token the page's forms carry."""
    found = _TOKEN.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


class Admin:
    """A browser-like client: signs in through the form and posts forms with the page's token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def sign_in(self, username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
        form = await self.client.get("/admin/sign-in")
        data = {"csrf": token_of(form), "username": username, "password": password, "next": "/admin/integrations"}
        answer = await self.client.post("/admin/sign-in", data=data)
        if answer.status_code == 303:
            self.csrf = token_of(await self.client.get("/admin/integrations/new"))
        return answer

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(self, path: str, data: Mapping[str, str] | None = None) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **(data or {})})


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as opened:
        yield opened


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> Admin:
    signed = Admin(client)
    answer = await signed.sign_in()
    assert answer.status_code == 303, answer.text
    return signed
