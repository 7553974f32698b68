"""The integrations pages: the list with each one's status, the add and edit form, removal and "Check connection".

Each route parses the form, calls one service and renders or redirects (POST, then 303 to a page, so a reload
never posts twice). A rule the services refuse comes back as the same form, the message next to its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.errors import ConfigError
from calsync.services.accounts import AdminSession
from calsync.services.integrations import IntegrationView, open_integrations
from calsync.web.admin import forms, status
from calsync.web.admin.render import error_page, page, see_other
from calsync.web.admin.session import PostedForm, SignedIn
from calsync.web.context import context

router = APIRouter(prefix="/admin")


@router.get("")
@router.get("/")
def home(session: SignedIn) -> Response:
    """The admin UI starts at the integrations."""
    return see_other("/admin/integrations")


@router.get("/integrations")
def integrations(request: Request, session: SignedIn) -> Response:
    """Every integration with its server and its schedule state (online, last and next run)."""
    settings = context(request).settings
    with open_integrations(settings) as service:
        views = service.integrations()
    states = status.integration_states(request)
    rows = [{"view": view, "state": states.get(view.name)} for view in views]
    return page(request, "integrations.html", {"title": "Integrations", "rows": rows}, session=session)


@router.get("/integrations/new")
def new_form(request: Request, session: SignedIn) -> Response:
    """An empty form with the services' defaults."""
    return _form(request, session, None, forms.defaults(), {})


@router.post("/integrations/new")
def add(request: Request, form: PostedForm) -> Response:
    """Add the integration, or show the form again with what is wrong."""
    try:
        given = forms.new_integration(form.fields)
        with open_integrations(context(request).settings) as service:
            view = service.add(given)
    except forms.FormInvalid as exc:
        return _form(request, form.session, None, forms.posted_values(form.fields), exc.errors, status=422)
    except ConfigError as exc:
        errors = forms.field_errors(exc)
        return _form(request, form.session, None, forms.posted_values(form.fields), errors, status=422)
    return see_other(f"{_path(view.name)}?note=added")


@router.get("/integrations/{name}")
def edit_form(request: Request, name: str, session: SignedIn) -> Response:
    """The form of a stored integration: every setting, and whether each secret is set."""
    view = _view(request, name)
    if view is None:
        return _missing(request, name, session)
    return _form(request, session, view, forms.from_view(view), {})


@router.post("/integrations/{name}")
def update(request: Request, name: str, form: PostedForm) -> Response:
    """Save the changes; a secret field left empty keeps the stored secret."""
    view = _view(request, name)
    if view is None:
        return _missing(request, name, form.session)
    values = forms.posted_values(form.fields) | {"name": name}
    try:
        patch = forms.integration_patch(form.fields)
        with open_integrations(context(request).settings) as service:
            service.update(name, patch)
    except forms.FormInvalid as exc:
        return _form(request, form.session, view, values, exc.errors, status=422)
    except ConfigError as exc:
        return _form(request, form.session, view, values, forms.field_errors(exc), status=422)
    return see_other(f"{_path(name)}?note=saved")


@router.get("/integrations/{name}/remove")
def remove_form(request: Request, name: str, session: SignedIn) -> Response:
    """Ask before removing: removal takes the users with it."""
    view = _view(request, name)
    if view is None:
        return _missing(request, name, session)
    with open_integrations(context(request).settings) as service:
        users = len(service.users(name))
    values = {"title": f"Remove {name}", "view": view, "users": users}
    return page(request, "remove.html", values, session=session)


@router.post("/integrations/{name}/remove")
def remove(request: Request, name: str, form: PostedForm) -> Response:
    """Remove the integration and its users."""
    try:
        with open_integrations(context(request).settings) as service:
            service.remove(name)
    except ConfigError:
        return _missing(request, name, form.session)
    return see_other("/admin/integrations?note=removed")


@router.post("/integrations/{name}/check")
def check_connection(request: Request, name: str, form: PostedForm) -> Response:
    """Reach the server with the stored credentials (and each user's mailbox, when asked) and say what happened."""
    users = form.fields.get("users") == "yes"
    try:
        report = status.check(request, name, users=users)
    except ConfigError as exc:
        return error_page(request, 422, "Cannot check", str(exc), form.session)
    values = {"title": f"Check {'users' if users else 'connection'}: {name}", "name": name, "report": report}
    return page(request, "check.html", values, session=form.session)


def _form(
    request: Request,
    session: AdminSession,
    view: IntegrationView | None,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    status: int = 200,
) -> Response:
    title = f"Integration {view.name}" if view is not None else "Add an integration"
    context_: dict[str, Any] = {
        "title": title,
        "view": view,
        "groups": forms.INTEGRATION_FORM,
        "values": values,
        "errors": errors,
        "action": _path(view.name) if view is not None else "/admin/integrations/new",
    }
    return page(request, "integration_form.html", context_, session=session, status=status)


def _view(request: Request, name: str) -> IntegrationView | None:
    with open_integrations(context(request).settings) as service:
        try:
            return service.get(name)
        except ConfigError:
            return None


def _missing(request: Request, name: str, session: AdminSession) -> Response:
    return error_page(request, 404, "No such integration", f"There is no integration called {name!r}.", session)


def _path(name: str) -> str:
    return f"/admin/integrations/{quote(name, safe='')}"
