"""Integrations, users and API tokens for administrators, under ``/api/v1/admin`` (what the admin UI does, for
scripts and provisioning tools).

Authenticated with a local admin account over HTTP Basic (use HTTPS in front of calsync): the name and password
are checked like a sign-in at the UI, so the same lock-out after repeated failures applies, and no session is
left behind. Views never hold a secret: ``has_password``-style flags instead; a secret is written, never read.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, fields
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import ConfigDict
from starlette.concurrency import run_in_threadpool

from calsync.crypto import Secret
from calsync.services.accounts import SignInOutcome, open_accounts
from calsync.services.integrations import (
    IntegrationInput,
    IntegrationPatch,
    IntegrationView,
    UserPatch,
    UserView,
    open_integrations,
)
from calsync.web.api.schemas import NoNul
from calsync.web.context import context

_SECRETS = ("password", "client_secret", "certificate")


def require_admin(request: Request) -> str:
    """The admin's name from ``Authorization: Basic``; 401 with a challenge otherwise (a locked name too)."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise _challenge("admin routes need an admin account: send Authorization: Basic")
    try:
        name, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _challenge("malformed Authorization header") from None
    with open_accounts(context(request).settings) as accounts:
        outcome = accounts.sign_in(name, password)
        if outcome.session is not None:
            accounts.sign_out(outcome.session.token)
    if outcome.outcome is SignInOutcome.LOCKED:
        raise _challenge("too many failed attempts: this account is locked for a while")
    if outcome.outcome is not SignInOutcome.SIGNED_IN:
        raise _challenge("wrong admin name or password")
    return name


def _challenge(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": 'Basic realm="calsync"'})


Admin = Annotated[str, Depends(require_admin)]
router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class IntegrationBody(NoNul):
    """An integration's fields (``IntegrationInput``); secrets as plain strings, only ever written."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    company: str | None = None
    connection_type: str | None = None
    auth_mode: str | None = None
    description: str | None = None
    department: str | None = None
    url: str | None = None
    autodiscover: str | None = None
    ca_bundle: str | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = None
    certificate: str | None = None
    two_way: bool | None = None
    days_back: int | None = None
    days_forward: int | None = None
    full_sync_minutes: int | None = None
    interval_minutes: int | None = None
    start_of_sync: datetime | None = None
    appointment_activity: str | None = None
    task_activity: str | None = None


class UserBody(NoNul):
    """A user's mailbox and options; left-out options keep their value (all on for a new user)."""

    model_config = ConfigDict(extra="forbid")

    business_user: str | None = None
    mailbox: str | None = None
    appointments: bool | None = None
    delete_in_calendar: bool | None = None
    delete_in_business: bool | None = None
    no_private_appointments: bool | None = None
    tasks: bool | None = None
    delete_tasks_in_calendar: bool | None = None
    delete_tasks_in_business: bool | None = None
    no_private_tasks: bool | None = None
    contacts: bool | None = None


@router.get("/integrations", summary="Every integration (no secrets)")
async def list_integrations(request: Request, admin: Admin) -> dict[str, Any]:
    """Each integration with its settings and whether each secret is set."""

    def read() -> list[IntegrationView]:
        with open_integrations(context(request).settings) as service:
            return service.integrations()

    return {"integrations": [_view(v) for v in await run_in_threadpool(read)]}


@router.post("/integrations", status_code=201, summary="Add an integration")
async def add_integration(body: IntegrationBody, request: Request, admin: Admin) -> dict[str, Any]:
    """Checked like the admin form: a bad field is a 422 naming it."""
    given = {k: v for k, v in body.model_dump().items() if v is not None}
    for key in _SECRETS:
        if key in given:
            given[key] = Secret(given[key])
    names = {f.name for f in fields(IntegrationInput)}

    def add() -> IntegrationView:
        with open_integrations(context(request).settings) as service:
            return service.add(IntegrationInput(**{k: v for k, v in given.items() if k in names}))

    return _view(await run_in_threadpool(add))


@router.get("/integrations/{name}", summary="One integration with its users")
async def get_integration(name: str, request: Request, admin: Admin) -> dict[str, Any]:
    """The integration and its users."""

    def read() -> tuple[IntegrationView, list[UserView]]:
        with open_integrations(context(request).settings) as service:
            return service.get(name), service.users(name)

    view, users = await run_in_threadpool(read)
    return {**_view(view), "users": [_user(u) for u in users]}


@router.patch("/integrations/{name}", summary="Change an integration")
async def update_integration(name: str, body: IntegrationBody, request: Request, admin: Admin) -> dict[str, Any]:
    """Changes what is given; a secret left out keeps its stored value."""
    given = body.model_dump(exclude_none=True, exclude={"name"})
    for key in _SECRETS:
        if key in given:
            given[key] = Secret(given[key])

    def update() -> IntegrationView:
        with open_integrations(context(request).settings) as service:
            return service.update(name, IntegrationPatch(**given))

    return _view(await run_in_threadpool(update))


@router.delete("/integrations/{name}", status_code=204, summary="Remove an integration with its users")
async def remove_integration(name: str, request: Request, admin: Admin) -> None:
    """Removes the integration, its users, business items and tokens."""

    def remove() -> None:
        with open_integrations(context(request).settings) as service:
            service.remove(name)

    await run_in_threadpool(remove)


@router.post("/integrations/{name}/users", status_code=201, summary="Map a business user to a mailbox")
async def add_user(name: str, body: UserBody, request: Request, admin: Admin) -> dict[str, Any]:
    """Adds a user (every option on unless given)."""
    options = body.model_dump(exclude_none=True, exclude={"business_user", "mailbox"})

    def add() -> UserView:
        with open_integrations(context(request).settings) as service:
            service.add_user(name, body.business_user or "", body.mailbox or "")
            return service.update_user(name, body.business_user or "", UserPatch(**options))

    return _user(await run_in_threadpool(add))


@router.patch("/integrations/{name}/users/{user}", summary="Change a user's mailbox or options")
async def update_user(name: str, user: str, body: UserBody, request: Request, admin: Admin) -> dict[str, Any]:
    """Changes what is given."""
    patch = UserPatch(**body.model_dump(exclude_none=True, exclude={"business_user"}))

    def update() -> UserView:
        with open_integrations(context(request).settings) as service:
            return service.update_user(name, user, patch)

    return _user(await run_in_threadpool(update))


@router.delete("/integrations/{name}/users/{user}", status_code=204, summary="Remove a user")
async def remove_user(name: str, user: str, request: Request, admin: Admin) -> None:
    """Removes the user's mapping."""

    def remove() -> None:
        with open_integrations(context(request).settings) as service:
            service.remove_user(name, user)

    await run_in_threadpool(remove)


def _view(view: IntegrationView) -> dict[str, Any]:
    data = asdict(view)
    data["start_of_sync"] = view.start_of_sync.isoformat() if view.start_of_sync else None
    return data


def _user(view: UserView) -> dict[str, Any]:
    return {"business_user": view.business_user, "mailbox": view.mailbox, **asdict(view.flags)}
