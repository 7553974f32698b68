"""What every request of one app shares (``AppContext``), and the dependency that hands it to a route.

Why a module of its own: every route needs it and the app that installs the routes makes it, so in ``app.py``
the routes would import the module that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from calsync.config import Settings


@dataclass(slots=True)
class AppContext:
    """What every request of one app shares: the settings and the time of start (for ``/health``).

    ``extras`` holds the parts an entry point adds (the scheduler of ``calsync serve``), by name.
    """

    settings: Settings
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extras: dict[str, Any] = field(default_factory=dict)


def context(request: Request) -> AppContext:
    """The app's context, as a FastAPI dependency."""
    ctx: AppContext = request.app.state.context
    return ctx
