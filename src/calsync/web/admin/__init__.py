"""The admin web UI: server-rendered pages for administrators, in the same FastAPI app as the REST API.

Pages are Jinja2 templates rendered on the server with one stylesheet and no script; every route but the
sign-in page and the stylesheet needs a signed-in session, and every form post carries its session's CSRF token
(``session.py``). Accounts are local (``calsync admin-user``), kept with the state (``calsync.services.accounts``).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from calsync.web.admin import held, integrations, jobs, journal, rules, sign_in, users
from calsync.web.admin.render import STATIC_DIR, error_page, see_other
from calsync.web.admin.session import SIGN_IN_PATH, FormRefused, NotSignedIn

PUBLIC_PATHS = (SIGN_IN_PATH, "/admin/static")
"""The admin paths answered without a session: the sign-in page and the stylesheet."""


def install(app: FastAPI) -> None:
    """Add the admin UI's routes, its stylesheet and the answers to "not signed in" and "forged form" to ``app``."""
    for module in (sign_in, integrations, users, jobs, held, journal, rules):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
    app.add_exception_handler(NotSignedIn, _to_sign_in)
    app.add_exception_handler(FormRefused, _refused)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    """303 to the sign-in page, which brings the admin back to the page asked for (GETs only)."""
    target = SIGN_IN_PATH
    if request.method == "GET" and request.url.path.startswith("/admin/"):
        target += f"?next={quote(request.url.path)}"
    return see_other(target)


async def _refused(request: Request, exc: Exception) -> Response:
    message = "The form was not sent from this site's page, or the page was too old. Reload the page and try again."
    return error_page(request, 403, "Form refused", message, None)
