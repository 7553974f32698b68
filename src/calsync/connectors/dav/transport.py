"""HTTP transport for WebDAV servers: one keep-alive httpx client per connector, typed errors, polite retries.

Why httpx and not the caldav library: calsync passes item text through untouched and needs exactly the requests
RFC 4791/6578 describe (sync-collection with a token, one multiget per batch, conditional PUT/DELETE with the
etag we saw). The caldav library wraps each item in objects, parses every body with lxml and vobject/icalendar,
and hides the status codes a guarded write must see (412 vs 201); on loopback Radicale it sent 2-3x the requests
of the plan below for an initial sync. httpx gives a typed client with connection reuse, TLS contexts, proxies,
Basic and Digest auth and a mockable transport for tests; the request bodies come from pure builders in ``xml``.

Errors: ``translate_errors()`` and ``raise_for_status()`` turn every httpx exception and error status into the
calsync tree; messages carry the URL path and status, never credentials.

Credentials go only to the origin (scheme, host and port) of the URL configured, or for an e-mail address or a
domain of the first URL asked (the one DNS named), and to that host over https when it was http. Why: discovery
follows redirects and hrefs the server names, and a server (or whoever altered its answer) could point them at
another host, which would then receive the password. A request elsewhere is sent without them; one from https to
plain http is refused, since it would expose the account's data on the network.
"""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import httpx

from calsync.connectors.dav.xml import ProtocolViolation
from calsync.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    RateLimited,
    TlsFailure,
    Unavailable,
)

_RETRY_STATUSES = frozenset({429, 503})


class AuthScheme(StrEnum):
    """How the connector proves who it is."""

    BASIC = "basic"
    DIGEST = "digest"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """Everything about reaching one server; the password is kept out of ``repr``.

    ``max_connections`` bounds concurrent requests per server (Radicale serialises writes, so more gain
    nothing there); ``retries`` is how often a 429/503 or a refused connection is tried again.
    """

    username: str = ""
    password: str = field(default="", repr=False)
    auth: AuthScheme = AuthScheme.BASIC
    verify_tls: bool = True
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    proxy: str | None = None
    timeout: float = 30.0
    max_connections: int = 4
    retries: int = 3
    max_retry_after: float = 60.0


class DavTransport:
    """Sends requests to one server with connection reuse, a concurrency bound and retries; counts requests."""

    def __init__(
        self,
        settings: TransportSettings,
        *,
        connector: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        trusted: str = "",
    ) -> None:
        self.settings = settings
        self.connector = connector
        self._trusted = _origin(trusted) if "://" in trusted else None
        self.requests = 0
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max(1, settings.max_connections))
        self._client = httpx.Client(
            auth=_auth(settings),
            verify=ssl_context(settings) if settings.verify_tls else False,
            proxy=settings.proxy,
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            limits=httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=2),
            transport=transport,
            trust_env=False,
            headers={"User-Agent": "calsync"},
        )

    def request(
        self, method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Send one request, retrying a 429/503 (honouring Retry-After) or a refused connection with back-off.

        Raises ``RateLimited``/``Unavailable`` when retries run out, ``TlsFailure`` for a TLS failure.
        """
        sent = dict(headers or {})
        if body is not None and "Content-Type" not in sent:
            sent["Content-Type"] = "application/xml; charset=utf-8"
        credentials = self._credentials_for(url)
        attempt = 0
        while True:
            try:
                response = self._send_once(method, url, body, sent, credentials)
            except httpx.ConnectError as exc:
                if attempt >= self.settings.retries:
                    host = httpx.URL(url).host
                    raise Unavailable(
                        f"cannot connect to {host} ({attempt + 1} attempts): {exc}", connector=self.connector
                    ) from exc
                self._sleep(backoff(attempt))
            else:
                if response.status_code == 401 and not credentials and self._client.auth is not None:
                    raise self._elsewhere(url)
                if response.status_code not in _RETRY_STATUSES or attempt >= self.settings.retries:
                    return response
                self._sleep(retry_delay(response.headers.get("Retry-After"), attempt, self.settings.max_retry_after))
            attempt += 1

    def _send_once(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], credentials: bool
    ) -> httpx.Response:
        with self._slots, translate_errors(self.connector, url, retry_connect=True):
            self.requests += 1
            if credentials:
                return self._client.request(method, url, content=body, headers=headers)
            return self._client.request(method, url, content=body, headers=headers, auth=None)

    def _credentials_for(self, url: str) -> bool:
        """Whether ``url`` may receive the credentials (see the module docstring); raises ``ConnectorError`` for
        plain http after https."""
        origin = _origin(url)
        if self._trusted is None:
            self._trusted = origin  # an address or a domain: the URL DNS named is the first one asked
        trusted = self._trusted
        if trusted[0] == "https" and origin[0] != "https":
            raise ConnectorError(
                f"refused to go from https://{_host(trusted)} to plain http://{_host(origin)}: the server pointed "
                "calsync to an unencrypted address; configure its https URL",
                connector=self.connector,
            )
        return origin == trusted or (origin[0] == "https" and origin[1] == _https_netloc(trusted))

    def _elsewhere(self, url: str) -> AuthError:
        """The refusal of a server the credentials were not sent to."""
        assert self._trusted is not None
        host = httpx.URL(url).netloc.decode()
        message = (
            f"{host} asks for credentials, but calsync sends them only to {_host(self._trusted)}, the server "
            f"configured, which pointed here: configure {host} itself if it is the account's server"
        )
        return AuthError(message, connector=self.connector)

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


def ssl_context(settings: TransportSettings) -> ssl.SSLContext:
    """A verifying TLS context with the system CAs or ``ca_bundle``, and the client certificate if set.

    Shared by the connectors of one process while the files it was read from stay the same. Why: loading a CA
    store costs about 20 ms, and the service builds a connector per user and run, so a scheduler syncing 200
    mailboxes spent seconds of every interval re-reading the same certificates. A file replaced on disk (a
    renewed client certificate, an updated CA bundle or system store) changes the key, and the next connector
    reads it afresh.
    """
    key = (settings.ca_bundle, settings.client_cert, settings.client_key, _files_signature(settings))
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = _new_ssl_context(settings)
            while len(_contexts) > _CONTEXTS_KEPT:
                del _contexts[next(iter(_contexts))]
    return context


_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()
_CONTEXTS_KEPT = 16


def _new_ssl_context(settings: TransportSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)
    if settings.client_cert is not None:
        key = str(settings.client_key) if settings.client_key else None
        context.load_cert_chain(str(settings.client_cert), key)
    return context


def _files_signature(settings: TransportSettings) -> tuple[tuple[int, ...] | None, ...]:
    """(device, inode, size, mtime, ctime) of each file a context is read from; ``None`` for one that is absent.

    The ctime too: a file rewritten in place at the same size with its mtime put back (``cp -p``, ``rsync -t``)
    keeps the other four, but writing it sets the ctime, which no user-level tool can set back."""
    defaults = ssl.get_default_verify_paths()
    paths = (settings.ca_bundle, settings.client_cert, settings.client_key, defaults.cafile, defaults.capath)
    signature = []
    for path in paths:
        try:
            stat = Path(path).stat() if path else None
        except OSError:
            stat = None
        signature.append(
            None if stat is None else (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        )
    return tuple(signature)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based) when the server gave no hint: 0.5, 1, 2, … 8."""
    return float(min(0.5 * 2**attempt, 8.0))


def retry_delay(header: str | None, attempt: int, cap: float) -> float:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date, RFC 9110 section 10.2.3)."""
    if header:
        value = header.strip()
        if value.isdigit():
            return min(float(value), cap)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, min(when.timestamp() - time.time(), cap))
    return backoff(attempt)


@contextlib.contextmanager
def translate_errors(connector: str, url: str, *, retry_connect: bool = False) -> Iterator[None]:
    """Map httpx and parser exceptions to calsync errors (``retry_connect``: let ConnectError through)."""
    path = httpx.URL(url).path
    try:
        yield
    except httpx.ConnectError as exc:
        if isinstance(exc.__context__, ssl.SSLError) or "SSL" in str(exc) or "CERTIFICATE" in str(exc):
            raise TlsFailure(f"TLS failed for {httpx.URL(url).host}: {exc}", connector=connector) from exc
        if retry_connect:
            raise
        raise Unavailable(f"cannot connect to {httpx.URL(url).host}: {exc}", connector=connector) from exc
    except httpx.TimeoutException as exc:
        raise Unavailable(f"{path} timed out ({type(exc).__name__})", connector=connector) from exc
    except httpx.HTTPError as exc:
        raise Unavailable(f"{path}: {type(exc).__name__}: {exc}", connector=connector) from exc
    except ProtocolViolation as exc:
        raise ProtocolError(f"{path}: the server broke the protocol: {exc}", connector=connector) from exc


def raise_for_status(response: httpx.Response, connector: str, *, href: str = "") -> None:
    """Raise the calsync error for a non-2xx response; return for 2xx (207 included)."""
    code = response.status_code
    if code < 300:
        return
    where = f"{response.request.method} {response.request.url.path}"
    error: ConnectorError
    if code == 401:
        error = AuthError(f"{where}: 401, the server refused the credentials", connector=connector, href=href)
    elif code == 403:
        error = AuthError(f"{where}: 403, the account may not do this", connector=connector, href=href)
    elif code in (404, 410):
        error = NotFound(f"{where}: {code}, not found", connector=connector, href=href)
    elif code == 412:
        error = PreconditionFailed(f"{where}: 412, changed since it was read", connector=connector, href=href)
    elif code == 429:
        hint = response.headers.get("Retry-After")
        error = RateLimited(f"{where}: 429, rate limited", retry_after=retry_delay(hint, 0, 3600), connector=connector)
    elif code >= 500 or code in (502, 503, 504):
        error = Unavailable(f"{where}: {code}, the server failed", connector=connector, href=href)
    else:
        error = ProtocolError(f"{where}: unexpected status {code}", connector=connector, href=href)
    raise error


def _origin(url: str) -> tuple[str, str]:
    """Scheme and host with port (the default one written out) of ``url``: where credentials may go."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.scheme.lower(), f"{parsed.host.lower()}:{port}"


def _host(origin: tuple[str, str]) -> str:
    """The host of ``origin`` as a person writes it: the port only when it is not the scheme's default."""
    scheme, netloc = origin
    host, _, port = netloc.rpartition(":")
    return host if port == ("443" if scheme == "https" else "80") else netloc


def _https_netloc(origin: tuple[str, str]) -> str:
    """The host of an http ``origin`` as https on the default port (the upgrade a server may redirect to)."""
    scheme, netloc = origin
    host = netloc.rpartition(":")[0]
    return f"{host}:443" if scheme == "http" else netloc


def _auth(settings: TransportSettings) -> httpx.Auth | None:
    if settings.auth is AuthScheme.NONE or not settings.username:
        return None
    if settings.auth is AuthScheme.DIGEST:
        return httpx.DigestAuth(settings.username, settings.password)
    return httpx.BasicAuth(settings.username, settings.password)
