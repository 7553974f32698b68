"""The item rules page of an integration: selection, review, conflicts, the mass-deletion guard and the mappings.

One form for ``HubService.rules`` / ``set_rules``; a rule the service refuses comes back as the same form, the
message next to its field (``rules_form.rules_errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.errors import ConfigError
from calsync.services.accounts import AdminSession
from calsync.services.hub import open_hub
from calsync.services.integrations import IntegrationView
from calsync.web.admin import rules_form
from calsync.web.admin.forms import FormInvalid
from calsync.web.admin.lookup import base_path, integration_view, missing
from calsync.web.admin.render import page, see_other
from calsync.web.admin.session import PostedForm, SignedIn
from calsync.web.context import context

router = APIRouter(prefix="/admin/integrations/{name}/rules")


@router.get("")
def rules(request: Request, name: str, session: SignedIn) -> Response:
    """The integration's rules in force (the defaults where never set)."""
    view = integration_view(request, name)
    if view is None:
        return missing(request, name, session)
    with open_hub(context(request).settings) as hub:
        current = hub.rules(name)
    return _form(request, session, view, rules_form.from_rules(current), {})


@router.post("")
def save(request: Request, name: str, form: PostedForm) -> Response:
    """Check and store the rules, or show the form again with what is wrong."""
    view = integration_view(request, name)
    if view is None:
        return missing(request, name, form.session)
    shown = rules_form.from_posted(form.fields)
    with open_hub(context(request).settings) as hub:
        try:
            posted = rules_form.posted_rules(form.fields, hub.rules(name))
        except FormInvalid as exc:
            return _form(request, form.session, view, shown, exc.errors, status=422)
        try:
            hub.set_rules(name, posted.data)
        except ConfigError as exc:
            errors = rules_form.rules_errors(exc, posted.rows)
            return _form(request, form.session, view, shown, errors, status=422)
    return see_other(f"{base_path(name)}/rules?note=saved")


def _form(
    request: Request,
    session: AdminSession,
    view: IntegrationView,
    shown: rules_form.RulesForm,
    errors: Mapping[str, str],
    *,
    status: int = 200,
) -> Response:
    values: dict[str, Any] = {
        "title": f"Item rules of {view.name}",
        "view": view,
        "groups": rules_form.RULES_FORM,
        "form": shown,
        "columns": rules_form.ACTIVITY_COLUMNS,
        "priorities": rules_form.PRIORITY_CHOICES,
        "errors": errors,
        "here": "rules",
    }
    return page(request, "rules.html", values, session=session, status=status)
