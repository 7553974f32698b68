"""API token authentication: the ``require_token`` dependency every ``/api/v1`` route takes.

A business system sends ``Authorization: Bearer cs_…`` (RFC 6750). Anything else is a 401 with
``WWW-Authenticate: Bearer`` and one plain sentence: missing, malformed, or "invalid or revoked" — the same
sentence and the same work for an unknown and a revoked token, so neither the answer nor its timing tells an
attacker that a token once existed.

Why the services are kept in the app's context (``AppContext.extras``) rather than opened per request: a token
check runs on every API call, and opening a store costs an engine and a schema check. They are built on the first
authenticated request, from the app's settings, never from a module global.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from calsync.services.access import Access, TokenInfo, build_access
from calsync.web.context import context

ACCESS = "access"
"""The key of the API access services in ``AppContext.extras``; whoever closes the app may ``close()`` them."""
MISSING = "missing API token: send the header Authorization: Bearer <token>"
MALFORMED = "malformed Authorization header: expected Authorization: Bearer <token>"
INVALID = "invalid or revoked API token"


def require_token(request: Request) -> TokenInfo:
    """The live token the request carries; raises a 401 ``HTTPException`` otherwise.

    A plain (not async) function on purpose: FastAPI runs it in its thread pool, since the lookup is a database read.
    """
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise _unauthorized(MISSING, "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized(MALFORMED, "invalid_request")
    info = access_services(request).tokens.verify(token)
    if info is None:
        raise _unauthorized(INVALID, "invalid_token")
    return info


def access_services(request: Request) -> Access:
    """The app's API access services, built once from its settings (a racing second build is closed again)."""
    extras = context(request).extras
    found: Access | None = extras.get(ACCESS)
    if found is None:
        built = build_access(context(request).settings)
        found = extras.setdefault(ACCESS, built)
        if found is not built:
            built.close()
    return found


def _unauthorized(detail: str, error: str) -> HTTPException:
    challenge = f'Bearer realm="calsync", error="{error}"' if error else 'Bearer realm="calsync"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})
