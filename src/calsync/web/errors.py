"""Errors rendered once for the whole app: a status code per error type and a JSON body in plain words.

Secrets never reach a response: calsync errors carry no secret by construction (``calsync.crypto.Secret`` renders
as ``***``), and an unexpected error is answered with its type only, its text going to the log. A ``StateError``
is answered the same way: its text names the database (host, user, database, schema) and the driver's reason,
which are for the operator, not for whoever sent the request.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from calsync.errors import (
    AuthError,
    CalsyncError,
    ConfigError,
    InvalidItem,
    NotFound,
    PairLocked,
    PreconditionFailed,
    RateLimited,
    StateError,
    Unavailable,
)

logger = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[CalsyncError], int], ...] = (
    (NotFound, 404),
    (PreconditionFailed, 412),
    (PairLocked, 409),
    (RateLimited, 429),
    (AuthError, 502),
    (Unavailable, 503),
    (ConfigError, 422),
    (InvalidItem, 422),
)


def status_of(exc: BaseException) -> int:
    """The HTTP status for ``exc``."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(exc: BaseException) -> JSONResponse:
    """A JSON error response for ``exc``: ``{"detail": ..., "error": <type>}``."""
    status = status_of(exc)
    if isinstance(exc, CalsyncError) and not isinstance(exc, StateError):
        detail = " ".join(str(exc).split())
    else:
        logger.exception("unexpected error", exc_info=exc)
        detail = "internal error"
    return JSONResponse({"detail": detail, "error": type(exc).__name__}, status_code=status)
