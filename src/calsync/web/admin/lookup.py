"""The integration a hub page is about: found, or a 404 page saying so (shared by the held, journal and rules
pages, so each route starts the same way)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from calsync.errors import ConfigError
from calsync.services.accounts import AdminSession
from calsync.services.integrations import IntegrationView, open_integrations
from calsync.web.admin.render import error_page
from calsync.web.context import context


def integration_view(request: Request, name: str) -> IntegrationView | None:
    """The stored integration called ``name``; ``None`` when there is none."""
    with open_integrations(context(request).settings) as service:
        try:
            return service.get(name)
        except ConfigError:
            return None


def missing(request: Request, name: str, session: AdminSession) -> Response:
    """The 404 page of an integration that does not exist."""
    return error_page(request, 404, "No such integration", f"There is no integration called {name!r}.", session)


def base_path(name: str) -> str:
    """The path of the integration's pages (its name quoted whole)."""
    return f"/admin/integrations/{quote(name, safe='')}"
