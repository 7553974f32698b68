"""What is synced for one user of an integration: the per-user options of DESIGN.md's user mapping."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserOptions:
    """What is synced for one user; every option is on when a user is added (DESIGN.md, user mapping).

    One value for the configuration file and the state database alike, so an option added here reaches both.
    """

    appointments: bool = True
    delete_in_calendar: bool = True
    delete_in_business: bool = True
    no_private_appointments: bool = True
    tasks: bool = True
    delete_tasks_in_calendar: bool = True
    delete_tasks_in_business: bool = True
    no_private_tasks: bool = True
    contacts: bool = True
