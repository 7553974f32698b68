"""The users page of an integration: who is mapped to which mailbox, with a checkbox per option."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.errors import ConfigError
from calsync.services.accounts import AdminSession
from calsync.services.integrations import open_integrations
from calsync.web.admin import forms, status
from calsync.web.admin.render import error_page, page, see_other
from calsync.web.admin.session import PostedForm, SignedIn
from calsync.web.context import context

router = APIRouter(prefix="/admin/integrations/{name}/users")


@router.get("")
def users(request: Request, name: str, session: SignedIn) -> Response:
    """The users with their options, and a form to add one."""
    return _page(request, name, session, {}, {})


@router.post("")
def add_user(request: Request, name: str, form: PostedForm) -> Response:
    """Map a business user to a mailbox, every option on."""
    try:
        with open_integrations(context(request).settings) as service:
            service.add_user(name, form.text("business_user"), form.text("mailbox"))
    except ConfigError as exc:
        given = {"business_user": form.text("business_user"), "mailbox": form.text("mailbox")}
        return _page(request, name, form.session, given, forms.field_errors(exc), status=422)
    return see_other(f"{_path(name)}?note=user-added")


@router.post("/{business_user}")
def update_user(request: Request, name: str, business_user: str, form: PostedForm) -> Response:
    """Save one user's mailbox and options (an unticked box is an option switched off)."""
    try:
        with open_integrations(context(request).settings) as service:
            service.update_user(name, business_user, forms.user_patch(form.fields))
    except ConfigError as exc:
        errors = {f"{business_user}.{k}": v for k, v in forms.field_errors(exc).items()}
        return _page(request, name, form.session, {}, errors, status=422)
    return see_other(f"{_path(name)}?note=user-saved")


@router.post("/{business_user}/remove")
def remove_user(request: Request, name: str, business_user: str, form: PostedForm) -> Response:
    """Remove one user from the integration."""
    try:
        with open_integrations(context(request).settings) as service:
            service.remove_user(name, business_user)
    except ConfigError as exc:
        return error_page(request, 404, "Cannot remove", str(exc), form.session)
    return see_other(f"{_path(name)}?note=user-removed")


@router.post("/{business_user}/sync")
def sync_user_now(request: Request, name: str, business_user: str, form: PostedForm) -> Response:
    """Ask the scheduler for a run of this one user's pairs now."""
    try:
        with status.jobs(request) as service:
            service.sync_now(name, business_user)
    except ConfigError as exc:
        return error_page(request, 404, "Cannot sync", str(exc), form.session)
    return see_other(f"/admin/jobs?integration={quote(name, safe='')}&note=sync-asked")


def _page(
    request: Request,
    name: str,
    session: AdminSession,
    given: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    status: int = 200,
) -> Response:
    try:
        with open_integrations(context(request).settings) as service:
            view, listed = service.get(name), service.users(name)
    except ConfigError:
        return error_page(request, 404, "No such integration", f"There is no integration called {name!r}.", session)
    values = {
        "title": f"Users of {name}",
        "view": view,
        "users": listed,
        "options": forms.USER_OPTIONS,
        "given": given,
        "errors": errors,
        "path": _path(name),
    }
    return page(request, "users.html", values, session=session, status=status)


def _path(name: str) -> str:
    return f"/admin/integrations/{quote(name, safe='')}/users"
