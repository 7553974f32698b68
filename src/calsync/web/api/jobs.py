"""The integration's jobs and schedule, for a business system that wants to show or wait for sync runs.

Read-only: "sync now" is ``POST /api/v1/sync`` (``calsync.web.api.runs``). A job of another integration is a 404,
as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from calsync.errors import NotFound
from calsync.services.access import TokenInfo
from calsync.services.jobs import JobView, open_jobs
from calsync.web.api.auth import require_token
from calsync.web.context import context

router = APIRouter(prefix="/api/v1", tags=["jobs"])
Token = Annotated[TokenInfo, Depends(require_token)]


@router.get("/jobs", summary="The integration's latest jobs")
async def jobs(request: Request, token: Token, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Newest first: kind, start and end, outcome (completed, completed-with-warnings, failed) and counts."""

    def read() -> list[JobView]:
        with open_jobs(context(request).settings) as service:
            return service.history(token.integration, limit)

    return {"jobs": [job_json(j) for j in await run_in_threadpool(read)]}


@router.get("/jobs/{job_id}", summary="One job with its per-item lines")
async def job(job_id: int, request: Request, token: Token) -> dict[str, Any]:
    """The job and one line per item: what was done, on which side, by which rule, and any error."""

    def read() -> dict[str, Any]:
        with open_jobs(context(request).settings) as service:
            details = service.details(job_id)
        if details.job.integration != token.integration:
            raise NotFound(f"no job {job_id}")
        lines = [
            {
                "item": line.ident,
                "title": line.title,
                "side": line.side,
                "action": line.action,
                "outcome": line.outcome,
                "rule": line.rule,
                "message": line.message,
            }
            for line in details.lines
        ]
        return {**job_json(details.job), "lines": lines}

    return await run_in_threadpool(read)


def job_json(view: JobView) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": view.id,
        "pair": view.pair,
        "kind": view.kind.value,
        "started_at": view.started_at.isoformat(),
        "finished_at": view.finished_at.isoformat() if view.finished_at else None,
        "outcome": view.outcome.value,
        "counts": dict(view.counts),
        "message": view.message,
    }
