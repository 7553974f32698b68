"""The scheduling pages: each integration's schedule, "Sync now", the job history with its chart, one job's details."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.errors import ConfigError, NotFound
from calsync.services.accounts import AdminSession
from calsync.services.integrations import open_integrations
from calsync.web.admin import chart, status
from calsync.web.admin.render import error_page, page, see_other
from calsync.web.admin.session import PostedForm, SignedIn
from calsync.web.context import context

router = APIRouter(prefix="/admin")

SIDES = (("a", "Business"), ("b", "Calendar"))
COUNTED = ("created", "updated", "deleted", "skipped", "conflicts", "errors", "held")


@router.get("/jobs")
def jobs(request: Request, session: SignedIn) -> Response:
    """The schedule of every integration, the chart of the last 14 days and the newest jobs (of one integration
    with ``?integration=``)."""
    only = request.query_params.get("integration") or None
    with open_integrations(context(request).settings) as service:
        names = [view.name for view in service.integrations()]
    if only is not None and only not in names:
        return _no_integration(request, only, session)
    with status.jobs(request) as service:
        states, history, days = service.status(), service.history(only, limit=50), service.chart(days=14)
    values = {
        "title": "Scheduling",
        "states": states,
        "history": history,
        "chart": chart.layout(days),
        "days": days,
        "names": names,
        "only": only,
    }
    return page(request, "jobs.html", values, session=session)


@router.get("/jobs/{job_id}")
def job(request: Request, job_id: int, session: SignedIn) -> Response:
    """One job: its counts per side and one line per item, with the rule that decided and any error."""
    try:
        with status.jobs(request) as service:
            details = service.details(job_id)
    except NotFound:
        return error_page(request, 404, "No such job", f"There is no job {job_id}.", session)
    values = {
        "title": f"Job {job_id}",
        "details": details,
        "sides": SIDES,
        "counted": COUNTED,
        "side_counts": side_counts(details.job.counts),
    }
    return page(request, "job.html", values, session=session)


@router.post("/integrations/{name}/sync")
def sync_now(request: Request, name: str, form: PostedForm) -> Response:
    """Ask the scheduler for a run of the integration now, then show the scheduling page."""
    try:
        with status.jobs(request) as service:
            service.sync_now(name)
    except ConfigError:
        return _no_integration(request, name, form.session)
    return see_other(f"/admin/jobs?integration={quote(name, safe='')}&note=sync-asked")


@router.post("/integrations/{name}/retry")
def retry(request: Request, name: str, form: PostedForm) -> Response:
    """Bring an offline integration back online and clear its back-off, so its next turn runs."""
    try:
        with status.jobs(request) as service:
            service.retry(name)
    except ConfigError:
        return _no_integration(request, name, form.session)
    return see_other(f"/admin/jobs?integration={quote(name, safe='')}&note=retried")


def side_counts(counts: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Stored flat counts (``a.created``, ``b.errors`` …) as ``{side: {count: value}}``; other keys are dropped."""
    out: dict[str, dict[str, int]] = {side: {} for side, _ in SIDES}
    for key, value in counts.items():
        side, _, name = key.partition(".")
        if side in out and name:
            out[side][name] = value
    return out


def _no_integration(request: Request, name: str, session: AdminSession) -> Response:
    return error_page(request, 404, "No such integration", f"There is no integration called {name!r}.", session)
