"""The one FastAPI application: the REST API for business systems (``/api/v1``), the admin UI and ``/health``.

Why a factory: ``create_app(settings)`` builds everything from the settings it is given, so tests build as many
apps as they like (each on its own database) and nothing is created at import time (STYLE.md, habit 8). Routes
reach the services through ``app.state.context`` (``AppContext``), never through module globals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from calsync import __version__
from calsync.config import Settings
from calsync.errors import CalsyncError


@dataclass(slots=True)
class AppContext:
    """What every request of one app shares: the settings and the time of start (for ``/health``).

    ``extras`` holds the parts an entry point adds (the scheduler of ``calsync serve``), by name.
    """

    settings: Settings
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extras: dict[str, Any] = field(default_factory=dict)


def context(request: Request) -> AppContext:
    """The app's context, as a FastAPI dependency."""
    ctx: AppContext = request.app.state.context
    return ctx


def create_app(settings: Settings) -> FastAPI:
    """The application for ``settings``: API, admin UI and health check."""
    from calsync.web import admin, api

    app = FastAPI(
        title="calsync",
        version=__version__,
        description="Sync hub between a business system and its users' calendars.",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.context = AppContext(settings)
    app.add_exception_handler(CalsyncError, _render_error)
    app.add_api_route("/health", _health, methods=["GET"], tags=["health"], summary="Liveness and version")
    api.install(app)
    admin.install(app)
    return app


CLOSED_ON_SHUTDOWN = ("access", "hub")
"""The ``AppContext.extras`` the app builds on first use (API access, hub service) and closes when it stops."""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Release the services the routes built, so a stopping server leaves no open database connections."""
    yield
    extras = app.state.context.extras
    for key in CLOSED_ON_SHUTDOWN:
        service = extras.pop(key, None)
        if service is not None:
            service.close()


async def _health(request: Request) -> dict[str, Any]:
    ctx = context(request)
    return {"status": "ok", "version": __version__, "started_at": ctx.started_at.isoformat()}


async def _render_error(request: Request, exc: Exception) -> JSONResponse:
    """Every calsync error a route lets through, rendered once: a 4xx/5xx with the error in plain words."""
    from calsync.web.errors import error_response

    return error_response(exc)
