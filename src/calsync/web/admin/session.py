"""Who is signed in, and whether a form really came from one of our pages.

Every admin route but the sign-in page and the stylesheet depends on ``signed_in`` (pages) or ``posted`` (forms):
no live session raises ``NotSignedIn``, answered with a 303 to the sign-in page; a POST whose ``csrf`` field is
not its session's token raises ``FormRefused``, answered with 403 (synchroniser-token pattern: the token lives
server-side with the session, so a page on another site cannot know it). The sign-in form, which has no session
yet, carries a random token that must equal the one in a short-lived cookie set with the form (double submit).

Cookies are HttpOnly (no script can read them), SameSite=Lax (another site's form posts arrive without them),
scoped to ``/admin``, and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from calsync.services.accounts import AdminSession, open_accounts
from calsync.web.context import context

SESSION_COOKIE = "calsync_session"
SIGN_IN_COOKIE = "calsync_sign_in"
SIGN_IN_PATH = "/admin/sign-in"
HOME_PATH = "/admin/integrations"


class NotSignedIn(Exception):
    """The request carries no live session."""


class FormRefused(Exception):
    """A POST without the token of the session (or of the sign-in form) it claims to come from."""


@dataclass(frozen=True, slots=True)
class Posted:
    """A form posted by a signed-in admin, its CSRF token checked."""

    session: AdminSession
    fields: Mapping[str, str]
    token: str

    def text(self, name: str) -> str:
        """A field's value with surrounding blanks removed; empty when absent."""
        return self.fields.get(name, "").strip()


def session_token(request: Request) -> str:
    """The session cookie's value; empty when there is none."""
    return request.cookies.get(SESSION_COOKIE, "")


def signed_in(request: Request) -> AdminSession:
    """The admin's live session (a FastAPI dependency); raises ``NotSignedIn`` when there is none."""
    with open_accounts(context(request).settings) as accounts:
        session = accounts.session(session_token(request))
    if session is None:
        raise NotSignedIn
    return session


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (files are ignored: no admin form uploads one)."""
    form = await request.form()
    fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
    if any("\x00" in text for pair in fields.items() for text in pair):
        # Nothing an admin types holds one, and PostgreSQL cannot store it: refused before any service sees it.
        raise HTTPException(400, detail="a form field must not contain a NUL character")
    return fields


SignedIn = Annotated[AdminSession, Depends(signed_in)]
"""A route parameter holding the admin's live session."""
FormFields = Annotated[dict[str, str], Depends(form_fields)]
"""A route parameter holding the posted form's fields."""


def posted(request: Request, session: SignedIn, fields: FormFields) -> Posted:
    """The form of a signed-in admin, refused unless its ``csrf`` field is the session's token."""
    if not same(fields.get("csrf", ""), session.csrf_token):
        raise FormRefused
    return Posted(session, fields, session_token(request))


PostedForm = Annotated[Posted, Depends(posted)]
"""A route parameter holding a signed-in admin's form, its CSRF token checked."""


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens; an empty token never matches."""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def new_form_token() -> str:
    """A random token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, request: Request, name: str, value: str, *, path: str = "/admin") -> None:
    """Set one of our cookies with the flags every one of them has."""
    secure = request.url.scheme == "https"
    response.set_cookie(name, value, path=path, httponly=True, samesite="lax", secure=secure)


def drop_cookie(response: Response, request: Request, name: str, *, path: str = "/admin") -> None:
    """Tell the browser to forget one of our cookies."""
    secure = request.url.scheme == "https"
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=secure)


def safe_next(target: str) -> str:
    """Where to go after signing in: an admin path on this site, never another site (``//evil``, ``https:``)."""
    if target.startswith("/admin/") and not target.startswith("//") and "\\" not in target and ":" not in target:
        return target
    return HOME_PATH
