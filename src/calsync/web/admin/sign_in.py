"""Signing in and out of the admin UI."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.services.accounts import MAX_FAILURES, SignInOutcome, open_accounts
from calsync.web.admin.render import page, see_other
from calsync.web.admin.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_PATH,
    FormFields,
    FormRefused,
    PostedForm,
    drop_cookie,
    new_form_token,
    safe_next,
    same,
    session_token,
    set_cookie,
)
from calsync.web.context import context

router = APIRouter()


@router.get(SIGN_IN_PATH)
def sign_in_form(request: Request) -> Response:
    """The sign-in form with a fresh form token (or straight on, for an admin already signed in)."""
    with open_accounts(context(request).settings) as accounts:
        if accounts.session(session_token(request)) is not None:
            return see_other(safe_next(request.query_params.get("next", "")))
    return _form(request, username="", problem="", next_path=request.query_params.get("next", ""), status=200)


@router.post(SIGN_IN_PATH)
def sign_in(request: Request, fields: FormFields) -> Response:
    """Check the name and password; on success start a session and go where the admin was heading."""
    if not same(fields.get("csrf", ""), request.cookies.get(SIGN_IN_COOKIE, "")):
        raise FormRefused
    username = fields.get("username", "").strip()
    with open_accounts(context(request).settings) as accounts:
        answer = accounts.sign_in(username, fields.get("password", ""))
    if answer.outcome is SignInOutcome.LOCKED:
        until = answer.locked_until.strftime("%H:%M UTC") if answer.locked_until else "a while"
        problem = f"Too many failed sign-ins under this name ({MAX_FAILURES} in a row): try again after {until}."
        return _form(request, username=username, problem=problem, next_path=fields.get("next", ""), status=429)
    if answer.session is None:
        problem = "Wrong name or password."
        return _form(request, username=username, problem=problem, next_path=fields.get("next", ""), status=401)
    response = see_other(safe_next(fields.get("next", "")))
    set_cookie(response, request, SESSION_COOKIE, answer.session.token)
    drop_cookie(response, request, SIGN_IN_COOKIE, path=SIGN_IN_PATH)
    return response


@router.post("/admin/sign-out")
def sign_out(request: Request, form: PostedForm) -> Response:
    """End the session on the server, then forget the cookie."""
    with open_accounts(context(request).settings) as accounts:
        accounts.sign_out(form.token)
    response = see_other(f"{SIGN_IN_PATH}?note=signed-out")
    drop_cookie(response, request, SESSION_COOKIE)
    return response


def _form(request: Request, *, username: str, problem: str, next_path: str, status: int) -> Response:
    token = new_form_token()
    values = {
        "title": "Sign in",
        "username": username,
        "problem": problem,
        "form_token": token,
        "next": safe_next(next_path),
    }
    response = page(request, "sign_in.html", values, session=None, status=status)
    set_cookie(response, request, SIGN_IN_COOKIE, token, path=SIGN_IN_PATH)
    return response
