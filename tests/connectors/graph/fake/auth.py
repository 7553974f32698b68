"""The fake identity platform: tenant discovery, the client-credentials grant, and bearer-token checks.

Errors carry the AADSTS codes Entra ID answers with: 7000215 (invalid client secret), 7000222 (expired client
secret), 700016 (unknown application), 90002 (unknown tenant). A token granted before admin consent carries no
``roles`` claim, and Graph then refuses every call with 403, which is what a missing consent looks like.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jwt

from tests.connectors.graph.fake.http import GraphError, Json, Request, Response

if TYPE_CHECKING:
    from tests.connectors.graph.fake.server import FakeGraph

ROLES = ("Calendars.ReadWrite", "Contacts.ReadWrite", "MailboxSettings.Read", "Tasks.ReadWrite", "User.Read.All")


@dataclass(slots=True)
class App:
    """One app registration: its secret or certificate, whether consent was granted, which mailboxes it may use."""

    client_id: str
    secret: str = ""
    secret_expired: bool = False
    certificate_pem: bytes = b""
    consented: bool = True
    allowed: set[str] | None = None


class Tokens:
    """Issues and checks access tokens (signed JWTs whose payload the client may read)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._generation = 0
        self._lock = threading.Lock()
        self.issued = 0

    def expire_all(self) -> None:
        with self._lock:
            self._generation += 1

    def endpoint(self, fake: FakeGraph, request: Request) -> Response:
        tenant = request.path.strip("/").split("/", 1)[0]
        if tenant.lower() != fake.tenant.lower():
            return Response(400, _aad("invalid_request", 90002, f"Tenant '{tenant}' not found."))
        if request.path.endswith("/openid-configuration"):
            base = f"{fake.url}/{tenant}"
            return Response(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                },
            )
        return self._grant(fake, request.body if isinstance(request.body, dict) else {})

    def _grant(self, fake: FakeGraph, form: dict[str, str]) -> Response:
        app = fake.apps.get(form.get("client_id", ""))
        if form.get("grant_type") != "client_credentials" or app is None:
            return Response(400, _aad("unauthorized_client", 700016, "Application not found in the directory."))
        if "client_assertion" in form:
            try:
                jwt.decode(
                    form["client_assertion"],
                    app.certificate_pem,
                    algorithms=["RS256", "PS256"],
                    audience=jwt.decode(form["client_assertion"], options={"verify_signature": False})["aud"],
                )
            except (jwt.PyJWTError, ValueError):
                return Response(401, _aad("invalid_client", 700027, "Client assertion failed signature validation."))
        elif form.get("client_secret") != app.secret or not app.secret:
            return Response(401, _aad("invalid_client", 7000215, "Invalid client secret provided."))
        elif app.secret_expired:
            return Response(401, _aad("invalid_client", 7000222, "The provided client secret keys are expired."))
        with self._lock:
            self.issued += 1
            claims: Json = {
                "tid": fake.tenant,
                "appid": app.client_id,
                "gen": self._generation,
                "exp": int(time.time()) + 3600,
            }
        if app.consented:
            claims["roles"] = list(ROLES)
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return Response(
            200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def check(self, fake: FakeGraph, request: Request) -> App:
        """The app a bearer token was issued to; 401 for a missing, forged or expired token, 403 without roles."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]) if scheme == "Bearer" else None
        except jwt.PyJWTError:
            claims = None
        if claims is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        with self._lock:
            if claims["gen"] != self._generation:
                raise GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if not claims.get("roles"):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return fake.apps[claims["appid"]]


def _aad(error: str, code: int, text: str) -> Json:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {secrets.token_hex(8)}",
        "error_codes": [code],
    }
