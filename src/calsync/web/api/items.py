"""Items, feed, journal and rules: the routes a business system calls with its integration's API token.

Each route parses its input, calls one service (``calsync.services.hub``), renders the result (STYLE.md, habit
8). The token decides the integration; no route takes an integration name, so a token cannot reach another
integration's items.

``PUT /items`` validates each item on its own: the valid ones are stored (in one transaction) and the answer
lists every item's result. 200 when all were stored, 207 when some were refused, 422 when none was stored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from calsync.services.access import TokenInfo
from calsync.services.hub import LAST_ENTRY, MAX_BATCH, BusinessItem, HubService, ItemResult, ItemView, JournalEntry
from calsync.web.api.auth import require_token
from calsync.web.api.limits import read_json
from calsync.web.api.schemas import IdsIn, ItemIn, from_item, to_item
from calsync.web.api.services import hub_service

router = APIRouter(prefix="/api/v1", tags=["items"])
Token = Annotated[TokenInfo, Depends(require_token)]
Hub = Annotated[HubService, Depends(hub_service)]

_ITEMS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "maxItems": MAX_BATCH, "items": ItemIn.model_json_schema()}
                    },
                }
            }
        },
    }
}


@router.put("/items", summary="Create or update items (idempotent by id)", openapi_extra=_ITEMS_BODY)
async def put_items(request: Request, token: Token, hub: Hub) -> JSONResponse:
    """Upsert up to 500 items; each gets a result: created, updated, unchanged or error (with the field)."""
    body = await read_json(request)
    raw = body.get("items") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        raise HTTPException(422, detail="items: a list of items is required")
    if len(raw) > MAX_BATCH:
        raise HTTPException(413, detail=f"items: at most {MAX_BATCH} per request, not {len(raw)}")
    errors: dict[int, ItemResult] = {}
    valid: list[tuple[int, BusinessItem]] = []
    for n, entry in enumerate(raw):
        try:
            given = ItemIn.model_validate(entry)
            valid.append((n, BusinessItem(given.id, given.user, to_item(given), given.priority)))
        except ValidationError as exc:
            errors[n] = ItemResult(_raw_id(entry), "error", error=_fields(exc, n))
    stored = await run_in_threadpool(hub.put_items, token.integration, [b for _, b in valid]) if valid else []
    results = dict(errors)
    results.update({n: r for (n, _), r in zip(valid, stored, strict=True)})
    ordered = [results[n] for n in range(len(raw))]
    failed = sum(1 for r in ordered if r.status == "error")
    status = 200 if not failed else 422 if failed == len(ordered) else 207
    return JSONResponse({"results": [_result(r) for r in ordered]}, status_code=status)


@router.get("/items", summary="Read items by id")
async def get_items(
    token: Token, hub: Hub, ids: Annotated[list[str], Query(alias="id", max_length=MAX_BATCH)]
) -> dict[str, Any]:
    """The stored items (deleted ones flagged); ids not found are listed under ``missing``."""
    found = await run_in_threadpool(hub.items, token.integration, ids)
    known = {v.business_id for v in found}
    return {"items": [item_json(v) for v in found], "missing": [i for i in ids if i not in known]}


@router.get("/items/{business_id}", summary="Read one item")
async def get_item(business_id: str, token: Token, hub: Hub) -> dict[str, Any]:
    """One stored item; 404 when there is none."""
    return item_json(await run_in_threadpool(hub.item, token.integration, business_id))


@router.delete("/items/{business_id}", summary="Delete one item")
async def delete_item(business_id: str, token: Token, hub: Hub) -> dict[str, Any]:
    """Delete an item; synced as a deletion to calendars where the users' options allow. 404 when there is no
    live item of that id."""
    result = (await run_in_threadpool(hub.delete_items, token.integration, [business_id]))[0]
    if result.status == "missing":
        raise HTTPException(404, detail=f"no item {business_id!r}")
    return _result(result)


@router.post("/items/delete", summary="Delete items in a batch")
async def delete_items(given: IdsIn, token: Token, hub: Hub) -> dict[str, Any]:
    """Delete up to 500 items; each gets ``deleted`` or ``missing``."""
    results = await run_in_threadpool(hub.delete_items, token.integration, given.ids)
    return {"results": [_result(r) for r in results]}


@router.get("/feed", summary="What came back from calendars", tags=["feed"])
async def feed(
    token: Token,
    hub: Hub,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Changes made in the users' calendars after cursor ``since``, oldest first; read on from ``next``."""
    entries = await run_in_threadpool(hub.feed, token.integration, since, limit)
    return {
        "entries": [
            {
                "cursor": e.cursor,
                "id": e.business_id,
                "user": e.owner,
                "kind": e.kind,
                "change": e.change.value,
                "rule": e.rule,
                "needs_review": e.needs_review,
                "item": item_json(e.item) if e.item is not None else None,
            }
            for e in entries
        ],
        "next": entries[-1].cursor if entries else since,
    }


@router.post("/feed/reviewed", summary="Mark imported items reviewed", tags=["feed"])
async def reviewed(given: IdsIn, token: Token, hub: Hub) -> dict[str, int]:
    """Clear the needs-review flag of items; answers how many were flagged."""
    return {"reviewed": await run_in_threadpool(hub.mark_reviewed, token.integration, given.ids)}


@router.get("/journal", summary="Every change calsync made", tags=["journal"])
async def journal(
    token: Token,
    hub: Hub,
    item: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    older_than: Annotated[int | None, Query(ge=1, le=LAST_ENTRY)] = None,
) -> dict[str, Any]:
    """Journal entries, newest first, of one item (``item``) or of all, with the rule that caused each; only
    those older than entry ``older_than`` when given. ``older`` reads the next page (``null``: no older ones)."""
    page = await run_in_threadpool(hub.journal_page, token.integration, item, limit, older_than)
    return {"entries": [journal_json(e) for e in page.entries], "older": page.older}


@router.post("/journal/{entry_id}/restore", summary="Restore an item from the journal", tags=["journal"])
async def restore(entry_id: int, token: Token, hub: Hub) -> dict[str, Any]:
    """Put the item back as it was before the entry's change; the next sync writes it to the calendar."""
    return item_json(await run_in_threadpool(hub.restore, token.integration, entry_id))


@router.get("/rules", summary="The integration's item rules and mappings", tags=["rules"])
async def get_rules(token: Token, hub: Hub) -> dict[str, Any]:
    """The rules in force (defaults where never set)."""
    rules = await run_in_threadpool(hub.rules, token.integration)
    data: dict[str, Any] = json.loads(rules.to_json())
    return data


@router.put("/rules", summary="Replace the integration's item rules and mappings", tags=["rules"])
async def put_rules(request: Request, token: Token, hub: Hub) -> dict[str, Any]:
    """Check and store rules; a bad option is a 422 naming it. Options left out take their defaults."""
    body = await read_json(request)
    rules = await run_in_threadpool(hub.set_rules, token.integration, body)
    data: dict[str, Any] = json.loads(rules.to_json())
    return data


def item_json(view: ItemView) -> dict[str, Any]:
    """A stored item as the API shows it."""
    data = {"id": view.business_id, "user": view.owner, "priority": view.priority_level, **from_item(view.item)}
    data.update(version=view.version, deleted=view.deleted, origin=view.origin.value, needs_review=view.needs_review)
    if view.error:
        data["error"] = view.error
    return data


def journal_json(entry: JournalEntry) -> dict[str, Any]:
    """A journal entry as the API shows it (contents as stored: iCalendar or vCard text)."""
    return {
        "id": entry.id,
        "item": entry.business_id,
        "user": entry.owner,
        "side": entry.side,
        "action": entry.action.value,
        "rule": entry.rule,
        "pair": entry.pair,
        "at": entry.at.isoformat(),
        "media_type": entry.media_type,
        "before": entry.before,
        "after": entry.after,
    }


def _result(result: ItemResult) -> dict[str, Any]:
    data: dict[str, Any] = {"id": result.business_id, "status": result.status}
    if result.version:
        data["version"] = result.version
    if result.error:
        data["error"] = result.error
    return data


def _raw_id(entry: object) -> str:
    value = entry.get("id") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else ""


def _fields(exc: ValidationError, n: int) -> str:
    """Each problem of one item, naming its field (``items[3].end``); one message per field, since a field that
    may be a date or a date-time otherwise answers twice."""
    parts: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"]]
        while loc and loc[-1] in ("datetime", "date", "str", "int"):
            loc.pop()
        where = f"items[{n}]" + "".join(f".{p}" for p in loc)
        parts.setdefault(where, error["msg"].removeprefix("Value error, "))
    return "; ".join(f"{where}: {message}" for where, message in parts.items())
