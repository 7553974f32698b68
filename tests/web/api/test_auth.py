"""``require_token`` on a tiny FastAPI app, called in-process through httpx's ASGI transport: a live token passes;
missing, malformed, wrong and revoked ones are a 401 with ``WWW-Authenticate: Bearer`` and a plain message."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from calsync.config import Settings, StateSettings
from calsync.crypto import KEY_ENV
from calsync.services.access import TokenInfo, open_access
from calsync.services.integrations import IntegrationInput, open_integrations
from calsync.web.api.auth import ACCESS, INVALID, MALFORMED, MISSING, require_token
from calsync.web.context import AppContext


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(KEY_ENV, raising=False)
    made = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    with open_integrations(made) as integrations:
        integrations.add(IntegrationInput("acme", "ACME", "folder", "delegate", url=str(tmp_path)))
    return made


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    tiny = FastAPI()
    tiny.state.context = AppContext(settings)

    @tiny.get("/whoami")
    def whoami(token: Annotated[TokenInfo, Depends(require_token)]) -> dict[str, str]:
        return {"integration": token.integration, "token": token.name}

    return tiny


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://calsync.test") as made:
        yield made
    access = app.state.context.extras.get(ACCESS)
    if access is not None:
        access.close()


def new_token(settings: Settings, name: str = "erp") -> str:
    with open_access(settings) as access:
        return access.tokens.create("acme", name).plain.reveal()


async def refused(client: httpx.AsyncClient, headers: dict[str, str], detail: str) -> httpx.Response:
    response = await client.get("/whoami", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return response


@pytest.mark.anyio
async def test_a_live_token_passes(client: httpx.AsyncClient, settings: Settings, app: FastAPI) -> None:
    plain = new_token(settings)
    response = await client.get("/whoami", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"integration": "acme", "token": "erp"}
    built = app.state.context.extras[ACCESS]
    assert (await client.get("/whoami", headers={"Authorization": f"bearer  {plain} "})).status_code == 200
    assert app.state.context.extras[ACCESS] is built  # built once, kept for the app's life
    with open_access(settings) as access:
        assert access.tokens.tokens("acme")[0].last_used_at is not None


@pytest.mark.anyio
async def test_a_missing_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await refused(client, {}, MISSING)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="calsync"'
    await refused(client, {"Authorization": "  "}, MISSING)


@pytest.mark.anyio
@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token cs_x", "cs_0123abcd_x"])
async def test_a_malformed_header_is_refused(client: httpx.AsyncClient, header: str) -> None:
    response = await refused(client, {"Authorization": header}, MALFORMED)
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


@pytest.mark.anyio
async def test_wrong_and_revoked_tokens_get_the_same_answer(client: httpx.AsyncClient, settings: Settings) -> None:
    plain = new_token(settings)
    wrong = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    unknown = await refused(client, {"Authorization": f"Bearer {wrong}"}, INVALID)
    await refused(client, {"Authorization": "Bearer not-even-shaped-like-one"}, INVALID)
    with open_access(settings) as access:
        access.tokens.revoke("acme", "erp")
    revoked = await refused(client, {"Authorization": f"Bearer {plain}"}, INVALID)
    assert revoked.content == unknown.content
    assert revoked.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in revoked.headers["WWW-Authenticate"]


@pytest.mark.anyio
async def test_a_removed_integrations_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    plain = new_token(settings)
    assert (await client.get("/whoami", headers={"Authorization": f"Bearer {plain}"})).status_code == 200
    with open_integrations(settings) as integrations:
        integrations.remove("acme")
    await refused(client, {"Authorization": f"Bearer {plain}"}, INVALID)


@pytest.mark.anyio
async def test_no_token_reaches_the_log(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calsync")  # other tests may have set calsync's own level
    plain = new_token(settings)
    await client.get("/whoami", headers={"Authorization": f"Bearer {plain}"})
    await client.get("/whoami", headers={"Authorization": f"Bearer {plain[:-1]}x"})
    assert "created API token erp" in caplog.text
    assert plain not in caplog.text
    assert plain[:-1] not in caplog.text
