"""App-only tokens from the Microsoft identity platform through msal: a client secret or a certificate.

One confidential client per connection keeps msal's token cache, so a token is reused until it nears expiry.
Entra ID's refusals become ``AuthError`` values that say what to fix (a wrong or expired secret, an unknown app
or tenant, a missing admin consent) and never contain the secret or the token.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calsync.errors import AuthError, Unavailable

if TYPE_CHECKING:
    import httpx
    import msal

SCOPE = "https://graph.microsoft.com/.default"
AUTHORITY_HOST = "https://login.microsoftonline.com"

_CODES = {
    7000215: ("bad_secret", "the client secret is wrong (check client_secret_env / client_secret_file)"),
    7000222: ("expired_secret", "the client secret has expired: create a new one in the app registration and store it"),
    700016: ("unknown_app", "the application (client) id is not registered in this tenant"),
    700027: ("bad_certificate", "the certificate was not accepted: upload its public part to the app registration"),
    90002: ("unknown_tenant", "the tenant does not exist (check tenant_id)"),
    900023: ("unknown_tenant", "the tenant id is not valid (check tenant_id)"),
}


class TokenRefused(AuthError):
    """Entra ID refused calsync a token; ``reason`` names why as data (``bad_secret``, ``expired_secret``,
    ``unknown_app``, ``bad_certificate``, ``unknown_tenant``, ``no_consent`` or ``other``) for checks to use."""

    def __init__(self, message: str, *, reason: str, connector: str = "") -> None:
        super().__init__(message, connector=connector)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who calsync is in a tenant. The secret and the certificate's key are kept out of ``repr``."""

    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    certificate_pem: str = field(default="", repr=False)


class TokenSource:
    """Access tokens for Graph, cached by msal; ``invalidate()`` forgets one Graph refused as expired."""

    def __init__(
        self, credentials: Credentials, client: httpx.Client, *, authority_host: str = AUTHORITY_HOST, name: str = ""
    ) -> None:
        self._credentials = credentials
        self._client = client
        self._authority = f"{authority_host.rstrip('/')}/{credentials.tenant_id}"
        self._known_host = authority_host.rstrip("/") == AUTHORITY_HOST
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()
        self.name = name

    def token(self) -> str:
        """A valid access token. Raises ``AuthError`` (refused, no consent) or ``Unavailable`` (unreachable)."""
        import httpx

        with self._lock:
            try:
                result: dict[str, Any] = self._application().acquire_token_for_client(scopes=[SCOPE])
            except httpx.HTTPError as exc:
                raise Unavailable(
                    f"the identity platform cannot be reached: {type(exc).__name__}", connector=self.name
                ) from exc
        if "access_token" not in result:
            reason, text = self._refusal(result)
            raise TokenRefused(text, reason=reason, connector=self.name)
        token = str(result["access_token"])
        if not _roles(token):
            raise TokenRefused(
                "the app has no application permissions in this tenant: an administrator must grant admin consent "
                "for Calendars.ReadWrite, Contacts.ReadWrite, MailboxSettings.ReadWrite and Tasks.ReadWrite.All",
                reason="no_consent",
                connector=self.name,
            )
        return token

    def invalidate(self) -> None:
        """Drop cached tokens so the next ``token()`` asks for a new one."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            import msal

            creds = self._credentials
            credential: str | dict[str, str] = creds.client_secret or _certificate(creds.certificate_pem)
            try:
                self._app = msal.ConfidentialClientApplication(
                    creds.client_id,
                    client_credential=credential,
                    authority=self._authority,
                    http_client=self._client,
                    instance_discovery=self._known_host,
                    validate_authority=self._known_host,
                    token_cache=msal.TokenCache(),
                )
            except ValueError as exc:
                raise TokenRefused(
                    f"the tenant {creds.tenant_id!r} cannot be found: {_first_line(exc)}",
                    reason="unknown_tenant",
                    connector=self.name,
                ) from exc
        return self._app

    def _refusal(self, result: dict[str, Any]) -> tuple[str, str]:
        codes = [int(code) for code in result.get("error_codes") or ()]
        for code in codes:
            if code in _CODES:
                reason, text = _CODES[code]
                return reason, f"Entra ID refused the token request: {text} (AADSTS{code})"
        return (
            "other",
            f"Entra ID refused the token request: {result.get('error', 'unknown error')} {codes or ''}".strip(),
        )


def _certificate(pem: str) -> dict[str, str]:
    """msal's certificate credential: the private key and the certificate's SHA-1 thumbprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise AuthError("the certificate file holds no PEM certificate (it needs the certificate and its key)") from exc
    return {"private_key": pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}


def _roles(token: str) -> list[str]:
    """The ``roles`` claim of an access token (read, not verified: Graph verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return ["unknown"]  # not a JWT we can read: let Graph decide
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return [str(role) for role in roles] if isinstance(roles, list) else []


def _first_line(exc: Exception) -> str:
    return str(exc).split(".")[0][:200]
