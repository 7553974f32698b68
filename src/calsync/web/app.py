"""The one FastAPI application: the REST API for business systems (``/api/v1``), the admin UI and ``/health``.

Why a factory: ``create_app(settings)`` builds everything from the settings it is given, so tests build as many
apps as they like (each on its own database) and nothing is created at import time (STYLE.md, habit 8). Routes
reach the services through ``app.state.context`` (``AppContext``), never through module globals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync import __version__
from calsync.config import Settings
from calsync.errors import CalsyncError
from calsync.web.context import AppContext, context


def create_app(settings: Settings) -> FastAPI:
    """The application for ``settings``: API, admin UI and health check."""
    from calsync.web import admin, api  # the routes: they import the context, never this module

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
    app.add_middleware(RefuseNulInUrl)
    app.add_middleware(NoStoreByDefault)
    app.add_api_route("/health", _health, methods=["GET"], tags=["health"], summary="Liveness and version")
    api.install(app)
    admin.install(app)
    return app


STATIC_PREFIX = "/admin/static/"
"""Where the admin UI's style sheet and scripts are served: the same for everyone, so caches may keep them."""

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


class RefuseNulInUrl:
    """Answer 400 to a request whose path or query holds a NUL character (``%00``).

    Why: no id, name or option calsync takes holds one, and PostgreSQL cannot store or even compare it, so a
    route reading its path or query would otherwise fail in the database with a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))
        ):
            response = JSONResponse({"detail": "the URL must not contain a NUL character (%00)"}, status_code=400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class NoStoreByDefault:
    """Send ``Cache-Control: no-store`` with every answer but the admin's static files, unless it sets its own.

    Why: the API's answers hold users' calendar items, presence and job details, and the admin's hold
    integrations and users; a browser's disk cache or a proxy must keep none of it once the answer is read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)


async def _health(request: Request) -> dict[str, Any]:
    ctx = context(request)
    return {"status": "ok", "version": __version__, "started_at": ctx.started_at.isoformat()}


async def _render_error(request: Request, exc: Exception) -> JSONResponse:
    """Every calsync error a route lets through, rendered once: a 4xx/5xx with the error in plain words."""
    from calsync.web.errors import error_response

    return error_response(exc)
