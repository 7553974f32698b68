"""Where the admin pages reach the schedule and the connection checks: ``JobService`` and ``check_integration``.

Kept in one module so the pages name one place for "how do I get the job service for this app".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fastapi import Request

from calsync.web.context import context

if TYPE_CHECKING:
    from calsync.services.checks import ConnectionReport
    from calsync.services.jobs import IntegrationStatus, JobService


@contextmanager
def jobs(request: Request) -> Iterator[JobService]:
    """The job service on this app's state database; "Sync now" wakes the app's own scheduler when it has one
    (``calsync serve``), else the request waits for whichever scheduler runs next."""
    from calsync.services.jobs import WAKE_EXTRA, open_jobs

    ctx = context(request)
    with open_jobs(ctx.settings, wake=ctx.extras.get(WAKE_EXTRA)) as service:
        yield service


def integration_states(request: Request) -> dict[str, IntegrationStatus]:
    """Every integration's schedule state, by name."""
    with jobs(request) as service:
        return {state.name: state for state in service.status()}


def check(request: Request, name: str, *, users: bool) -> ConnectionReport:
    """Check the integration's server (and its users' mailboxes with ``users``); raises ``ConfigError`` for an
    integration that does not exist or cannot be built."""
    from calsync.services.checks import check_integration

    return check_integration(context(request).settings, name, users=users)
