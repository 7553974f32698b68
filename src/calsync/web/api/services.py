"""The services the API routes use, built once per app from its settings and kept in its context.

Why once per app: opening a store costs an engine and a schema check, far more than a request's own work. Why
not module globals: each app (each test) has its own settings and database (STYLE.md, habit 8).
"""

from __future__ import annotations

from fastapi import Request

from calsync.services.hub import HubService, build_hub
from calsync.web.context import context

HUB = "hub"
"""The key of the hub service in ``AppContext.extras``."""


def hub_service(request: Request) -> HubService:
    """The app's hub service (a racing second build is closed again)."""
    extras = context(request).extras
    found: HubService | None = extras.get(HUB)
    if found is None:
        built = build_hub(context(request).settings)
        found = extras.setdefault(HUB, built)
        if found is not built:
            built.close()
    return found
