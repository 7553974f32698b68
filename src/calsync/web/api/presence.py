"""Presence for a business system: is a user available, in a meeting or out of office (and until when)?

Read-only and scoped to the token's integration: the users are that integration's, so another integration's user
is simply unknown. ``GET /api/v1/presence`` answers for every user, each read on its own: a mailbox the server
will not answer for is a line with ``status: unknown`` and its ``error``, not a failed request. An unknown user is
the app's ``ConfigError`` answer (422), naming the user; a server that cannot answer is its connector error's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from calsync.services.access import TokenInfo
from calsync.services.presence import Presence, PresenceStatus, UserPresence, presence, presences
from calsync.web.api.auth import require_token
from calsync.web.context import context

router = APIRouter(prefix="/api/v1", tags=["presence"])
Token = Annotated[TokenInfo, Depends(require_token)]
At = Annotated[datetime | None, Query(description="The instant, ISO 8601 with an offset; default: now.")]


@router.get("/presence", summary="Every user's presence")
async def everyone(request: Request, token: Token, at: At = None) -> dict[str, Any]:
    """One line per user of the integration: status, since/until, subject, out-of-office text, or an error."""
    moment = at or datetime.now(UTC)
    settings = context(request).settings
    lines = await run_in_threadpool(presences, settings, token.integration, moment)
    return {"at": moment.isoformat(), "users": [_line(line) for line in lines]}


@router.get("/presence/{business_user}", summary="One user's presence")
async def one(business_user: str, request: Request, token: Token, at: At = None) -> dict[str, Any]:
    """Available, meeting, out-of-office or unknown, with the item or out-of-office period behind it."""
    moment = at or datetime.now(UTC)
    settings = context(request).settings
    found = await run_in_threadpool(presence, settings, token.integration, business_user, moment)
    return {"at": moment.isoformat(), "user": business_user, **presence_json(found), "error": None}


def presence_json(found: Presence) -> dict[str, Any]:
    """A presence as the API shows it (a private item's subject was never read into it)."""
    return {
        "status": found.status.value,
        "since": found.since.isoformat() if found.since else None,
        "until": found.until.isoformat() if found.until else None,
        "subject": found.subject,
        "out_of_office_text": found.out_of_office_text,
        "source": str(found.source),
    }


def _line(line: UserPresence) -> dict[str, Any]:
    if line.presence is None:
        unknown = Presence(status=PresenceStatus.UNKNOWN, source="")
        return {"user": line.business_user, **presence_json(unknown), "error": line.error}
    return {"user": line.business_user, **presence_json(line.presence), "error": None}
