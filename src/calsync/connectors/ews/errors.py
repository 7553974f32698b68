"""The one border between exchangelib's exceptions and calsync's error tree, and the retry loop for throttling.

- ``translate_errors()`` maps every exchangelib (and requests) exception to a ``calsync.errors`` class with
  ``raise … from exc``; an item error code (ErrorIrresolvableConflict, ErrorItemNotFound …) maps the same way
  through ``item_error()`` when exchangelib returns it as a value in a bulk result.
- ``retrying()`` calls an operation again after ErrorServerBusy, waiting the server's BackOffMilliseconds, within
  ``Patience``. HTTP 503 and 429 with Retry-After are ridden out one level lower, in ``session``'s adapter, since
  exchangelib neither reads Retry-After nor retries 429 when it fails fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from exchangelib import errors as ews

from calsync.connectors.ews.settings import Patience
from calsync.errors import (
    AuthError,
    ConnectorError,
    InvalidItem,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    RateLimited,
    TlsFailure,
    Unavailable,
)

T = TypeVar("T")

_AUTH = (
    ews.UnauthorizedError,
    ews.ErrorAccessDenied,
    ews.ErrorImpersonateUserDenied,
    ews.ErrorImpersonationDenied,
    ews.ErrorImpersonationFailed,
    ews.ErrorNotDelegate,
    ews.ErrorDelegateNoUser,
)
_NOT_FOUND = (
    ews.ErrorItemNotFound,
    ews.ErrorNonExistentMailbox,
    ews.ErrorFolderNotFound,
    ews.ErrorInvalidIdMalformed,
    ews.ErrorInvalidIdEmpty,
    ews.ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ews.ErrorSubscriptionNotFound,
    ews.ErrorExpiredSubscription,
    ews.ErrorInvalidWatermark,
)
_CONFLICT = (ews.ErrorIrresolvableConflict, ews.ErrorChangeKeyRequiredForWriteOperations, ews.ErrorStaleObject)
_DOWN = (
    ews.ErrorTimeoutExpired,
    ews.ErrorInternalServerTransientError,
    ews.ErrorInternalServerError,
    ews.ErrorMailboxStoreUnavailable,
    ews.CASError,
    ews.RedirectError,
    ews.AutoDiscoverFailed,
)


@contextmanager
def translate_errors(connector: str, href: str = "") -> Iterator[None]:
    """Run the block; any exchangelib or HTTP exception leaves it as the matching ``ConnectorError``."""
    import requests

    try:
        yield
    except ConnectorError:
        raise
    except (ews.EWSError, requests.RequestException, OSError) as exc:
        raise error_for(exc, connector, href) from exc


def error_for(exc: Exception, connector: str, href: str = "") -> ConnectorError:
    """The calsync error for one exchangelib exception (raised, or returned in a bulk result)."""
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    if isinstance(exc, ews.ErrorServerBusy) and _outage(exc):
        return Unavailable(f"Exchange cannot be reached: {exc.__context__}", connector=connector, href=href)
    if isinstance(exc, ews.ErrorServerBusy):
        return RateLimited(f"Exchange is busy: {text}", retry_after=exc.back_off, connector=connector)
    if isinstance(exc, _AUTH):
        return AuthError(f"{type(exc).__name__}: {text}", connector=connector, href=href)
    if isinstance(exc, _NOT_FOUND):
        return NotFound(f"{type(exc).__name__}: {text}", connector=connector, href=href)
    if isinstance(exc, _CONFLICT):
        return PreconditionFailed(f"{href or 'the item'} changed since it was read", connector=connector, href=href)
    if isinstance(exc, ews.MalformedResponseError) and "Code: 429" in text:
        return RateLimited("Exchange answered 429 Too Many Requests", connector=connector)
    if isinstance(exc, ews.ResponseMessageError) and not isinstance(exc, _DOWN):
        if type(exc).__name__.startswith("ErrorInvalid"):
            return InvalidItem(f"{type(exc).__name__}: {text}", connector=connector, href=href)
        return ProtocolError(f"{type(exc).__name__}: {text}", connector=connector, href=href)
    if isinstance(exc, ews.TransportError) and ("SSL" in text or "CERTIFICATE" in text.upper()):
        return TlsFailure(f"TLS failed: {text}", connector=connector, href=href)
    if isinstance(exc, (*_DOWN, ews.TransportError)) or not isinstance(exc, ews.EWSError):
        return Unavailable(f"Exchange cannot be reached: {text}", connector=connector, href=href)
    return ProtocolError(f"{type(exc).__name__}: {text}", connector=connector, href=href)


def _outage(exc: ews.ErrorServerBusy) -> bool:
    """Whether exchangelib made this ErrorServerBusy from an outage (a 503 the adapter already waited out, a
    timeout), not from Exchange's own throttling answer."""
    return isinstance(exc.__context__, (ews.ErrorInternalServerTransientError, ews.ErrorTimeoutExpired))


def item_error(value: object, connector: str, href: str) -> ConnectorError | None:
    """The error a bulk result holds in place of an item, or ``None`` when it is not an exception."""
    if isinstance(value, Exception):
        return error_for(value, connector, href)
    return None


def retrying(call: Callable[[], T], patience: Patience, connector: str) -> T:
    """``call()``, again after ErrorServerBusy (waiting its BackOffMilliseconds) within ``patience``.

    Only ErrorServerBusy is retried here: Exchange did nothing, so even a create may be sent again. A timeout is
    not retried (the write may have happened); the engine's next run repeats it guarded.
    """
    sleep = patience.sleep or time.sleep
    waited = 0.0
    for attempt in range(1, patience.attempts + 1):
        try:
            return call()
        except ews.ErrorServerBusy as exc:
            if _outage(exc):
                raise error_for(exc, connector) from exc
            wait = exc.back_off if exc.back_off is not None else min(2.0**attempt, 30.0)
            if attempt == patience.attempts or waited + wait > patience.max_wait:
                raise RateLimited(
                    f"Exchange stayed busy after {attempt} tries", retry_after=exc.back_off, connector=connector
                ) from exc
            sleep(wait)
            waited += wait
    raise AssertionError("unreachable")  # pragma: no cover
