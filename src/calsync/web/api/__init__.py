"""The REST API for business systems, mounted at ``/api/v1`` and authenticated by per-integration API tokens."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the API's routes to ``app``."""
    from calsync.web.api import admin, items, jobs, notifications, presence, runs

    app.include_router(items.router)
    app.include_router(runs.router)
    app.include_router(jobs.router)
    app.include_router(admin.router)
    app.include_router(notifications.router)
    app.include_router(presence.router)
