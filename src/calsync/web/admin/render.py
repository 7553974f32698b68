"""How every admin page is rendered: one Jinja2 environment, one page helper, one error page.

Why the headers on every page: the pages show configuration, so no cache may keep them (``no-store``), and a
strict Content-Security-Policy (no script at all, styles from our one file) means a value that slipped past
escaping still could not run. Jinja2 escapes every value (autoescape is on for ``.html``); no template marks a
value safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from calsync.services.accounts import AdminSession

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

NOTES: Mapping[str, str] = {
    "added": "The integration was added.",
    "saved": "The changes were saved.",
    "removed": "The integration was removed.",
    "user-added": "The user was added with every option on.",
    "user-saved": "The user's options were saved.",
    "user-removed": "The user was removed.",
    "sync-asked": "A sync was asked for: it starts with the scheduler's next turn.",
    "retried": "The integration is back online; its next turn runs.",
    "signed-out": "You are signed out.",
}
"""The notes a redirect may ask a page to show (``?note=saved``); only these texts, never one from the URL."""


def _when(value: datetime | None) -> str:
    """A timestamp as admins read it: UTC to the minute; empty for none."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


_templates = Jinja2Templates(directory=HERE / "templates")
_templates.env.filters["when"] = _when
_templates.env.globals["outcome_names"] = {
    "running": "Running",
    "completed": "Completed",
    "completed-with-warnings": "Completed with warnings",
    "failed": "Failed",
}


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    session: AdminSession | None,
    status: int = 200,
) -> HTMLResponse:
    """Render ``template`` with ``context``, the session (for the navigation and sign-out form) and any note."""
    note = NOTES.get(request.query_params.get("note", ""), "")
    values = {"session": session, "note": note, **context}
    response = _templates.TemplateResponse(request, template, values, status_code=status)
    response.headers.update(HEADERS)
    return response


def error_page(request: Request, status: int, title: str, message: str, session: AdminSession | None) -> HTMLResponse:
    """A page saying what went wrong in plain words."""
    return page(request, "error.html", {"title": title, "message": message}, session=session, status=status)


def see_other(url: str) -> Response:
    """A 303 redirect after a POST, so reloading the page does not post again."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
