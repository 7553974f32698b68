"""What the admin commands show: integrations and users as rich tables.

Only views from ``calsync.services.integrations`` reach this module, and they hold no secrets, just whether each
is set; so nothing rendered here can print one. Values go in as ``Text``, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from calsync.services.integrations import IntegrationView, UserView

_FLAG_TITLES = {
    "appointments": "appts",
    "delete_in_calendar": "del cal",
    "delete_in_business": "del biz",
    "no_private_appointments": "no priv",
    "tasks": "tasks",
    "delete_tasks_in_calendar": "task del cal",
    "delete_tasks_in_business": "task del biz",
    "no_private_tasks": "task no priv",
    "contacts": "contacts",
}


def integrations_table(console: Console, views: Sequence[IntegrationView]) -> None:
    """One row per integration: who, where, how often, and which secrets are set."""
    if not views:
        console.print("No integrations yet: add one with `calsync integrations add`.", markup=False)
        return
    table = _table("Integrations", ("name", "company", "department", "type", "address", "auth", "sync", "secrets"))
    for view in views:
        sync = f"{'two-way' if view.two_way else 'to calendar'}, every {view.interval_minutes} min"
        address = view.url or view.autodiscover
        cells = (view.name, view.company, view.department, view.connection_type, address, view.auth_mode, sync)
        table.add_row(*(Text(c) for c in cells), Text(_secrets(view)))
    console.print(table)


def integration_detail(console: Console, view: IntegrationView, users: Sequence[UserView]) -> None:
    """Every setting of one integration, then its users."""
    table = _table(f"Integration {view.name}", ("setting", "value"))
    for field in fields(view):
        value = getattr(view, field.name)
        shown = "yes" if value is True else "no" if value is False else "" if value is None else str(value)
        table.add_row(Text(field.name), Text(shown))
    console.print(table)
    users_table(console, view.name, users)


def users_table(console: Console, integration: str, users: Sequence[UserView]) -> None:
    """One row per user with each option as yes/no."""
    if not users:
        console.print(f"{integration} has no users yet: add one with `calsync users add`.", markup=False)
        return
    table = _table(f"Users of {integration}", ("business user", "mailbox", *_FLAG_TITLES.values()))
    for user in users:
        flags = [Text("yes" if getattr(user.flags, name) else "no") for name in _FLAG_TITLES]
        table.add_row(Text(user.business_user), Text(user.mailbox), *flags)
    console.print(table)


def _secrets(view: IntegrationView) -> str:
    held = [name for name, has in (("password", view.has_password), ("client secret", view.has_client_secret)) if has]
    if view.has_certificate:
        held.append("certificate")
    return ", ".join(held) + " set" if held else "none"


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table
