"""Check connection for CalDAV and CardDAV: can the account reach the server, and each user's home?

The server line comes from three requests: OPTIONS (the ``DAV`` header says whether this is a CalDAV/CardDAV
server; the ``Server`` header names the product), a Depth 0 PROPFIND of the configured URL (proves the password),
and the discovery of the account's home. Each refused step is named in plain words: the TLS handshake failed,
the server is unreachable, it refused the user name or password, it is a web server but not a DAV server, or no
home was found. Then each principal: its home found (with how many collections), not found, or access denied.

Nothing raises for what it checks, and no line holds the password: lines are built from our own words, status
codes, header values and the error messages of ``dav.transport``, which carry paths and host names only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from calsync.connectors.base import Check, ConnectionReport
from calsync.connectors.dav import xml
from calsync.connectors.dav.discovery import kind_for, start_url
from calsync.connectors.dav.quirks import quirks_for
from calsync.connectors.dav.transport import DavTransport, translate_errors
from calsync.errors import AuthError, CalsyncError, ConfigError, NotFound, TlsFailure, Unavailable

if TYPE_CHECKING:
    from calsync.connectors.dav.store import DavStore

_PRODUCTS = {"radicale": "Radicale", "xandikos": "Xandikos", "nextcloud": "Nextcloud", "icloud": "iCloud"}
_PRODUCTS["google"] = "Google Calendar"


class DavProblem(StrEnum):
    """What a DAV check found wrong, as data (``Check.problem``); ``OK`` when nothing is."""

    OK = "ok"
    BAD_ADDRESS = "bad_address"
    TLS_FAILURE = "tls_failure"
    UNREACHABLE = "unreachable"
    BAD_PASSWORD = "bad_password"
    ACCESS_DENIED = "access_denied"
    NOT_DAV = "not_dav"
    NO_HOME = "no_home"
    NOT_FOUND = "not_found"
    NOT_CHECKED = "not_checked"
    OTHER = "other"


def check_connection(store: DavStore, principals: Sequence[str] = ()) -> ConnectionReport:
    """The server's check, then one per principal (each ``not checked`` when the server's failed)."""
    server = _check_server(store)
    if not server.ok:
        skipped = tuple(Check(p, DavProblem.NOT_CHECKED, f"{p}: not checked (no server)") for p in principals)
        return ConnectionReport(server, skipped)
    return ConnectionReport(server, tuple(_check_principal(store, p) for p in principals))


def _check_server(store: DavStore) -> Check:
    protocol = "CalDAV" if store.flavor.report == "calendar" else "CardDAV"
    try:
        url = start_url(store.given_url, kind_for(store.flavor.report))
    except ConfigError as exc:
        return Check(store.given_url, DavProblem.BAD_ADDRESS, f"Cannot find the {protocol} server: {exc}")
    # A transport that does not retry: an admin waiting for an answer wants it now, not after the back-off.
    probe = DavTransport(replace(store.http.settings, retries=0), connector=store.name)
    try:
        with translate_errors(store.name, url):  # the transport lets a refused connection through as httpx's
            return _probe(store, probe, url, protocol)
    except TlsFailure as exc:
        return Check(url, DavProblem.TLS_FAILURE, f"The TLS handshake with {_host(url)} failed: {_reason(exc)}")
    except Unavailable as exc:
        return Check(url, DavProblem.UNREACHABLE, f"Cannot reach {_shown(url)}: {_reason(exc)}")
    finally:
        probe.close()


def _probe(store: DavStore, probe: DavTransport, url: str, protocol: str) -> Check:
    """OPTIONS, then the authenticated PROPFIND, then the home; the first refusal is the answer."""
    options = probe.request("OPTIONS", url)
    product = _product(options.headers)
    propfind = _propfind(probe, url, kind_for(store.flavor.report).well_known)
    user = store.http.settings.username
    shown = _shown(url)
    if propfind.status_code == 401:
        line = f"{product} at {shown} refused the user name or password of {user or 'the account'}"
        return Check(url, DavProblem.BAD_PASSWORD, line)
    if propfind.status_code == 403:
        return Check(url, DavProblem.ACCESS_DENIED, f"{product} at {shown} denied {user or 'the account'} access")
    wanted = "calendar-access" if protocol == "CalDAV" else "addressbook"
    dav = {part.strip().lower() for part in options.headers.get("DAV", "").split(",")}
    if not (propfind.status_code == 207 or propfind.is_redirect):
        found = f"{propfind.status_code} {propfind.reason_phrase}".strip()
        return Check(url, DavProblem.NOT_DAV, f"{shown} answers, but is not a {protocol} server (PROPFIND: {found})")
    if options.is_success and "DAV" in options.headers and wanted not in dav:
        line = f"{shown} is a WebDAV server without {protocol} (its DAV header has no {wanted})"
        return Check(url, DavProblem.NOT_DAV, line)
    try:
        home = store.home()
    except AuthError as exc:
        return Check(url, DavProblem.ACCESS_DENIED, f"{product} at {shown}: {_reason(exc)}")
    except NotFound as exc:
        return Check(url, DavProblem.NO_HOME, f"Connected to {product} at {shown}, but {_reason(exc)}")
    except CalsyncError as exc:
        return Check(url, DavProblem.OTHER, f"{product} at {shown}: {_reason(exc)}")
    what = "calendar" if protocol == "CalDAV" else "address book"
    as_user = f" as {user}" if user else ""
    return Check(url, DavProblem.OK, f"Connected to {product} at {shown}{as_user} ({what} home {_path(home)})")


def _propfind(probe: DavTransport, url: str, well_known: str) -> httpx.Response:
    """A Depth 0 PROPFIND of ``url``; of the well-known URL instead when a server root answers 404 (as
    discovery does)."""
    body = xml.propfind(["d:current-user-principal"])
    response = probe.request("PROPFIND", url, body=body, headers={"Depth": "0"})
    if response.status_code == 404 and urlsplit(url).path in ("", "/"):
        response = probe.request(
            "PROPFIND", urljoin(url, f"/.well-known/{well_known}"), body=body, headers={"Depth": "0"}
        )
    return response


def _check_principal(store: DavStore, principal: str) -> Check:
    what = "calendars" if store.flavor.report == "calendar" else "address books"
    try:
        home, found = store.user_collections(principal)
    except NotFound as exc:
        return Check(principal, DavProblem.NOT_FOUND, f"{principal}: not found ({_reason(exc)})")
    except AuthError:
        line = f"{principal}: access denied: give the service account rights on the user's {what}"
        return Check(principal, DavProblem.ACCESS_DENIED, line)
    except ConfigError as exc:
        return Check(principal, DavProblem.BAD_ADDRESS, f"{principal}: {_reason(exc)}")
    except Unavailable as exc:
        return Check(principal, DavProblem.UNREACHABLE, f"{principal}: cannot be reached: {_reason(exc)}")
    except CalsyncError as exc:
        return Check(principal, DavProblem.OTHER, f"{principal}: {_reason(exc)}")
    return Check(principal, DavProblem.OK, f"{principal}: home {_path(home)} with {len(found)} {what}")


def _product(headers: httpx.Headers) -> str:
    """The server's product name (and version when its Server header gives one), for a person to read."""
    quirks = quirks_for("", headers)
    header = headers.get("Server", "")
    name = _PRODUCTS.get(quirks.server)
    if name is None:
        return f"the server ({header})" if header else "the server"
    version = re.search(rf"{re.escape(name)}[/ ]v?(\d[\w.]*)", header, re.IGNORECASE)
    return f"{name} {version.group(1)}" if version else name


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _shown(url: str) -> str:
    """The URL without any user info (a URL typed with ``user:password@`` must not echo the password)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
