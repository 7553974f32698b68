"""Previews and held deletions: what a sync would do, and the deletions the mass-deletion guard stopped.

A preview is a dry run of the integration's pairs (or of some users'): it lists exactly what would be created,
changed, deleted and skipped, and the rule behind each, and writes nothing. Held deletions are approved (the
next run lets them through) or rejected (each item is created again where it was deleted) by running the
affected users' pairs at once.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from calsync.services.access import TokenInfo
from calsync.services.hub_sync import IntegrationRun, JobKind, held_deletions, sync_integration
from calsync.web.api.auth import require_token
from calsync.web.api.schemas import HeldIn, PreviewIn
from calsync.web.context import context

router = APIRouter(prefix="/api/v1", tags=["runs"])
Token = Annotated[TokenInfo, Depends(require_token)]


@router.post("/preview", summary="Dry run: what a sync would do, and why")
async def preview(given: PreviewIn, request: Request, token: Token) -> dict[str, Any]:
    """Every pair's planned actions with their rules; nothing is written."""
    return await _run(request, token, given.users, kind=JobKind.DRY_RUN, full=given.full, dry_run=True)


@router.post("/sync", summary="Sync now and wait for the result")
async def sync_now(given: PreviewIn, request: Request, token: Token) -> dict[str, Any]:
    """Run the integration's pairs (or some users') now, as the scheduler would, and answer with what each did.
    A pair that is already running answers with its lock's error and is left to that run."""
    return await _run(request, token, given.users, kind=JobKind.MANUAL, full=given.full)


@router.get("/held", summary="Deletions held by the mass-deletion guard")
async def held(request: Request, token: Token) -> dict[str, Any]:
    """The deletions held in the latest run of each pair."""
    found = await run_in_threadpool(held_deletions, context(request).settings, token.integration)
    return {
        "held": [
            {
                "pair": h.pair,
                "user": h.user,
                "job": h.job_id,
                "ident": h.ident,
                "title": h.title,
                "side": h.side,
                "effect": h.effect,
                "rule": h.rule,
            }
            for h in found
        ]
    }


@router.post("/held/approve", summary="Let held deletions go through")
async def approve(given: HeldIn, request: Request, token: Token) -> dict[str, Any]:
    """Run the users' pairs now with the guard lifted: the held deletions are made."""
    return await _run(request, token, given.users, kind=JobKind.MANUAL, full=True, allow_mass_delete=True)


@router.post("/held/reject", summary="Undo held deletions")
async def reject(given: HeldIn, request: Request, token: Token) -> dict[str, Any]:
    """Run the users' pairs now, creating each held item again where it was deleted."""
    return await _run(request, token, given.users, kind=JobKind.MANUAL, full=True, reject_mass_delete=True)


async def _run(request: Request, token: TokenInfo, users: list[str], **options: Any) -> dict[str, Any]:
    """Run the token's integration (or ``users``) in the thread pool and render the run."""
    run = await run_in_threadpool(
        partial(sync_integration, context(request).settings, token.integration, users=users or None, **options)
    )
    return run_json(run)


def run_json(run: IntegrationRun) -> dict[str, Any]:
    """An integration run as the API shows it: per pair its counts, warnings, error and item lines."""
    pairs = []
    for outcome in run.outcomes:
        report = outcome.report
        pairs.append(
            {
                "pair": outcome.name,
                "error": outcome.message or None,
                "counts": report.counts() if report is not None else {},
                "warnings": list(report.warnings) if report is not None else [],
                "lines": [
                    {
                        "ident": line.ident,
                        "title": line.title,
                        "side": line.side,
                        "action": line.action,
                        "outcome": line.outcome,
                        "rule": line.rule,
                        "message": line.message,
                    }
                    for line in (report.lines if report is not None else [])
                ],
            }
        )
    return {"integration": run.integration, "pairs": pairs}
