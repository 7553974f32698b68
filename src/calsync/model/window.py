"""The time window a full sync looks at: so many days back and forward from now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_DAYS = 60
"""The furthest a window reaches either way: beyond it, servers' range queries get slow and rarely matter."""


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open UTC range ``[start, end)``; an item belongs to it when any of its time overlaps."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a window's bounds must be aware datetimes")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")

    @classmethod
    def around(cls, now: datetime, days_back: int = 30, days_forward: int = 30) -> Window:
        """The window ``days_back`` before ``now`` to ``days_forward`` after it.

        Raises ``ValueError`` for negative spans or spans over ``MAX_DAYS``, so a typo cannot make a full sync
        walk a whole mailbox.
        """
        for name, days in (("days back", days_back), ("days forward", days_forward)):
            if not 0 <= days <= MAX_DAYS:
                raise ValueError(f"{name} must be between 0 and {MAX_DAYS}, not {days}")
        now = now.astimezone(UTC)
        return cls(now - timedelta(days=days_back), now + timedelta(days=days_forward) + timedelta(microseconds=1))

    def overlaps(self, start: float | None, end: float | None) -> bool:
        """Whether the span ``[start, end)`` in POSIX seconds touches the window; ``None`` means unbounded."""
        lo = self.start.timestamp()
        hi = self.end.timestamp()
        return (start is None or start < hi) and (end is None or end > lo)
