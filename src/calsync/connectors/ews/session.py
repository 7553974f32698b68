"""exchangelib wired for calsync: credentials, the endpoint (explicit or autodiscovered), TLS and HTTP throttling.

- TLS is verified by default; a CA bundle or ``verify_tls = false`` applies to this connection's server only.
  exchangelib creates its HTTP sessions itself from one adapter class for the whole process, so calsync installs
  one adapter that looks the server's policy up by origin (scheme, host, port) instead of changing it globally.
- The same adapter rides out HTTP 503 and 429: it waits what ``Retry-After`` says (capped by ``Patience``) and
  sends again, a bounded number of times. The server did nothing for such an answer, so a write may be resent.
- exchangelib fails fast (``FailFast``): its own retry policy would sleep up to an hour and retries a wrong
  password as if the server were busy. ``errors.retrying`` handles ErrorServerBusy instead.
- Autodiscover asks the SOAP autodiscover service (GetUserSettings) and keeps the result in the cache it is
  given (see ``cache``), never in exchangelib's shared file.
- Every account is built with an explicit zone and locale, so nothing depends on the host's local settings.
"""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    OAuth2Credentials,
    Version,
)
from exchangelib.protocol import BaseProtocol, Protocol

from calsync.connectors.ews.cache import AutodiscoverCache, Discovered, cache_key
from calsync.connectors.ews.errors import translate_errors
from calsync.connectors.ews.settings import Access, EwsSettings, Logon, Patience
from calsync.errors import ConfigError, Unavailable

_THROTTLED = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class _Policy:
    verify: bool | str
    patience: Patience


class _Policies:
    """Per-origin TLS and retry policies, read by the one adapter class exchangelib instantiates."""

    def __init__(self) -> None:
        self._by_origin: dict[str, _Policy] = {}
        self._lock = threading.Lock()

    def set(self, url: str, policy: _Policy) -> None:
        with self._lock:
            self._by_origin[_origin(url)] = policy

    def get(self, url: str) -> _Policy:
        with self._lock:
            return self._by_origin.get(_origin(url), _Policy(True, Patience()))


POLICIES = _Policies()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class CalsyncAdapter(requests.adapters.HTTPAdapter):
    """The HTTP adapter exchangelib uses: the server's TLS policy, and bounded waits on 503 and 429."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        policy = POLICIES.get(request.url or "")
        kwargs["verify"] = policy.verify
        sleep = policy.patience.sleep or time.sleep
        waited = 0.0
        for attempt in range(1, policy.patience.attempts + 1):
            response = super().send(request, *args, **kwargs)
            if response.status_code not in _THROTTLED or attempt == policy.patience.attempts:
                return response
            wait = retry_after(response.headers.get("Retry-After"), attempt)
            if waited + wait > policy.patience.max_wait:
                return response
            response.close()
            sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover


def retry_after(value: str | None, attempt: int) -> float:
    """Seconds a Retry-After header asks for (seconds or an HTTP date); doubling from one second without it."""
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    return float(min(2**attempt, 30))


BaseProtocol.HTTP_ADAPTER_CLS = CalsyncAdapter


def version_of(text: str) -> Version | None:
    """A server version from ``15.1`` or ``15.1.2507.6`` (``None`` for empty: probe it)."""
    if not text:
        return None
    try:
        parts = [int(p) for p in text.split(".")]
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an Exchange version such as 15.1.2507.6", where="version") from exc
    return Version(Build(*[*parts, 0, 0, 0][:4]))


def credentials(settings: EwsSettings) -> Credentials | OAuth2Credentials:
    """The service account's credentials: a UPN and password, or an app's client credentials."""
    if settings.logon is Logon.OAUTH2:
        return OAuth2Credentials(
            client_id=settings.client_id, client_secret=settings.client_secret, tenant_id=settings.tenant_id
        )
    if "\\" in settings.username:
        raise ConfigError("give the user principal name (user@domain), not DOMAIN\\user", where="username")
    return Credentials(settings.username, settings.password)


class Session:
    """One service account's connection: endpoint, configuration, and an exchangelib account per mailbox."""

    def __init__(self, settings: EwsSettings, cache: AutodiscoverCache, name: str) -> None:
        self.settings = settings
        self.cache = cache
        self.name = name
        self.credentials = credentials(settings)
        self._config: Configuration | None = None
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    @property
    def config(self) -> Configuration:
        """The exchangelib configuration, autodiscovering the endpoint on first use."""
        if self._config is None:
            url, version = self._endpoint()
            self._policy(url)
            auth = {Logon.BASIC: BASIC, Logon.NTLM: NTLM, Logon.OAUTH2: OAUTH2}[self.settings.logon]
            config = Configuration(
                service_endpoint=url,
                credentials=self.credentials,
                auth_type=auth,
                version=version_of(self.settings.version) or version,
                retry_policy=FailFast(),
            )
            with contextlib.suppress(KeyError):
                del Protocol[config]  # exchangelib shares protocols per endpoint and account: take our own settings
            self._config = config
        return self._config

    def account(self, mailbox: str) -> Account:
        """The exchangelib account of ``mailbox``, opened by impersonation or as a delegate."""
        key = mailbox.lower()
        with self._lock:
            found = self._accounts.get(key)
            if found is None:
                found = self.fresh_account(key)
                self._accounts[key] = found
            return found

    def fresh_account(self, mailbox: str) -> Account:
        """An account nothing is cached on (for checks: a folder found once must be looked up again)."""
        access = IMPERSONATION if self.settings.access is Access.IMPERSONATION else DELEGATE
        account = Account(
            mailbox.lower(),
            access_type=access,
            config=self.config,
            autodiscover=False,
            default_timezone=EWSTimeZone(self.settings.timezone or "UTC"),
            locale="en_US",
        )
        account.protocol.TIMEOUT = self.settings.patience.timeout
        return account

    def _policy(self, url: str) -> None:
        verify: bool | str = str(self.settings.ca_bundle) if self.settings.ca_bundle else self.settings.verify_tls
        POLICIES.set(url, _Policy(verify, self.settings.patience))

    def _endpoint(self) -> tuple[str, Version | None]:
        if self.settings.url:
            return self.settings.url, None
        email = self.settings.autodiscover_email
        key = cache_key(email, self.settings.username)
        found = self.cache.get(key)
        if found is None:
            found = self._autodiscover(email)
            self.cache.put(key, found)
        return found.ews_url, version_of(found.build)

    def forget_endpoint(self) -> None:
        """Drop a cached autodiscover result that stopped answering, so the next use discovers again."""
        if not self.settings.url:
            self.cache.forget(cache_key(self.settings.autodiscover_email, self.settings.username))
        self._config = None
        self._accounts.clear()

    def _autodiscover(self, email: str) -> Discovered:
        """Ask the SOAP autodiscover service of the address's domain (or ``autodiscover_url``) for the EWS URL."""
        from exchangelib.autodiscover import AutodiscoverProtocol

        domain = email.rpartition("@")[2]
        candidates = (
            [self.settings.autodiscover_url]
            if self.settings.autodiscover_url
            else [
                f"https://{domain}/autodiscover/autodiscover.svc",
                f"https://autodiscover.{domain}/autodiscover/autodiscover.svc",
            ]
        )
        problems = []
        for url in candidates:
            self._policy(url)
            auth = {Logon.BASIC: BASIC, Logon.NTLM: NTLM, Logon.OAUTH2: OAUTH2}[self.settings.logon]
            config = Configuration(
                service_endpoint=url, credentials=self.credentials, auth_type=auth, retry_policy=FailFast()
            )
            try:
                with translate_errors(self.name):
                    answer = AutodiscoverProtocol(config=config).get_user_settings(user=email)
                    answer.raise_errors()
            except Unavailable as exc:
                problems.append(f"{url}: {exc}")
                continue
            if answer.ews_url:
                build = _build_text(answer)
                return Discovered(str(answer.ews_url), build)
            problems.append(f"{url}: no EWS URL in the answer")
        raise Unavailable("autodiscover found no EWS endpoint: " + "; ".join(problems), connector=self.name)


def _build_text(answer: Any) -> str:
    try:
        version = answer.version
    except ValueError:
        return ""
    return "" if version is None else str(version.build)
