"""The held mass deletions of an integration: what the guard stopped, and approving or rejecting it per user.

Approving runs the user's pairs (or every user's) at once with the guard lifted, so the held deletions are made;
rejecting runs them creating each held item again where it was deleted. The run happens within the request
(like the API's ``/held/approve``) and its outcome is the answer: an admin who approved a deletion wants to see
it done, not a promise. A reload asks the browser before posting again; a second approval finds nothing held.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.errors import CalsyncError, ConfigError
from calsync.services.hub_sync import HeldDeletion, IntegrationRun, JobKind, held_deletions, sync_integration
from calsync.services.syncing import PairOutcome
from calsync.web.admin.jobs import COUNTED, SIDES, side_counts
from calsync.web.admin.lookup import integration_view, missing
from calsync.web.admin.render import error_page, page
from calsync.web.admin.session import PostedForm, SignedIn
from calsync.web.context import context

router = APIRouter(prefix="/admin/integrations/{name}/held")


@dataclass(frozen=True, slots=True)
class UserHeld:
    """The deletions held in one business user's pairs."""

    user: str
    deletions: tuple[HeldDeletion, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """An item of a run that failed, conflicted or was refused by its store: what, on which side, and why."""

    item: str
    side: str
    action: str
    outcome: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class PairShown:
    """One pair of a run as the outcome page shows it."""

    name: str
    outcome: str
    message: str
    counts: dict[str, dict[str, int]]
    warnings: tuple[str, ...]
    problems: tuple[Problem, ...]


@router.get("")
def held(request: Request, name: str, session: SignedIn) -> Response:
    """The deletions held in the latest run of each pair, grouped by user, with approve and reject per user."""
    view = integration_view(request, name)
    if view is None:
        return missing(request, name, session)
    found = held_deletions(context(request).settings, name)
    values = {"title": f"Held deletions of {name}", "view": view, "groups": by_user(name, found), "here": "held"}
    return page(request, "held.html", values, session=session)


@router.post("/approve")
def approve(request: Request, name: str, form: PostedForm) -> Response:
    """Run the user's pairs (every user's when none is named) with the guard lifted: the deletions are made."""
    return _run(request, name, form, approve=True)


@router.post("/reject")
def reject(request: Request, name: str, form: PostedForm) -> Response:
    """Run the user's pairs (every user's when none is named), creating each held item again."""
    return _run(request, name, form, approve=False)


def _run(request: Request, name: str, form: PostedForm, *, approve: bool) -> Response:
    view = integration_view(request, name)
    if view is None:
        return missing(request, name, form.session)
    user = form.text("user")
    try:
        run = sync_integration(
            context(request).settings,
            name,
            kind=JobKind.MANUAL,
            full=True,
            users=[user] if user else None,
            allow_mass_delete=approve,
            reject_mass_delete=not approve,
        )
    except ConfigError as exc:
        return error_page(request, 422, "Cannot run", str(exc), form.session)
    except CalsyncError as exc:  # the integration's connectors could not be built: its server, not the form
        return error_page(request, 502, "Cannot run", str(exc), form.session)
    done = "approved" if approve else "rejected"
    whose = f" for {user}" if user else ""
    values = {
        "title": f"Held deletions {done}{whose}: {name}",
        "view": view,
        "approve": approve,
        "pairs": shown_pairs(run),
        "sides": SIDES,
        "counted": COUNTED,
        "here": "held",
    }
    return page(request, "held_run.html", values, session=form.session)


def by_user(integration: str, found: list[HeldDeletion]) -> list[UserHeld]:
    """Held deletions grouped by the business user of their pair (``<integration>/<user>/<kind>``), in order."""
    groups: dict[str, list[HeldDeletion]] = {}
    for deletion in found:
        user = deletion.pair.removeprefix(f"{integration}/").rpartition("/")[0]
        groups.setdefault(user, []).append(deletion)
    return [UserHeld(user, tuple(deletions)) for user, deletions in groups.items()]


def shown_pairs(run: IntegrationRun) -> list[PairShown]:
    """Each pair's outcome, counts per side, warnings and the items that failed, conflicted or were refused."""
    return [_shown(outcome) for outcome in run.outcomes]


def _shown(outcome: PairOutcome) -> PairShown:
    report = outcome.report
    if report is None:
        return PairShown(outcome.name, "failed", outcome.message, side_counts({}), (), ())
    problems = tuple(
        Problem(line.title or line.ident or line.href, line.side, line.action, line.outcome, line.rule, line.message)
        for line in report.lines
        if line.outcome in ("error", "conflict") or (line.outcome == "skipped" and line.message)
    )
    counts = side_counts(report.counts())
    return PairShown(outcome.name, report.outcome.value, "", counts, tuple(report.warnings), problems)
