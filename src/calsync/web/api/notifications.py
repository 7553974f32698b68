"""The public route Microsoft Graph posts change notifications to: ``POST /api/v1/notifications/graph``.

Public, since Graph sends no API token: what authenticates a notification is its ``clientState``, the secret
calsync gave the subscription, checked in constant time by ``NotificationService.receive_graph``. So the route
answers only three things: Graph's validation handshake (``?validationToken=``: 200 with the token as plain text,
at once, touching nothing, as Graph waits at most 10 seconds), notifications of known subscriptions with their
client state (202; each change asks for a run of its user), and 4xx for anything else. It never logs a body, a
token or a client state.
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from calsync.services.jobs import WAKE_EXTRA
from calsync.services.notifications import GRAPH_ROUTE, open_notifications
from calsync.web.context import context

router = APIRouter(tags=["notifications"])
MAX_BODY = 1024 * 1024
"""The largest notification body taken: Graph batches notifications, but never near a mebibyte without resource data."""
MAX_TOKEN = 2048
"""The longest validation token echoed (Graph's are about a hundred characters)."""
_PLAIN = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


@router.post(GRAPH_ROUTE, summary="Microsoft Graph change notifications (public; authenticated by clientState)")
async def graph_notifications(request: Request) -> Response:
    """The validation handshake, or a batch of change and lifecycle notifications."""
    token = request.query_params.get("validationToken")
    if token is not None:
        if not token or len(token) > MAX_TOKEN:
            return PlainTextResponse("a validation token of 1 to 2048 characters is expected", 400, headers=_PLAIN)
        return PlainTextResponse(token, 200, headers=_PLAIN)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return PlainTextResponse("send JSON (Content-Type: application/json)", 415, headers=_PLAIN)
    body = await _read(request)
    ctx = context(request)

    def receive() -> tuple[int, str]:
        with open_notifications(ctx.settings, wake=ctx.extras.get(WAKE_EXTRA)) as service:
            answer = service.receive_graph({}, body)
        return answer.status, answer.body

    status, text = await run_in_threadpool(receive)
    return PlainTextResponse(text, status, headers=_PLAIN)


async def _read(request: Request) -> bytes:
    """The body, refused with 413 as soon as it is larger than ``MAX_BODY``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, detail=f"the body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, detail=f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
