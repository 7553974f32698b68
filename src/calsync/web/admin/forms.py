"""The integration and user forms: their fields as data, and posted fields turned into the services' values.

Why the fields are data: one list drives the template (label, hint, input type, choices) and the parsing, so a
field added to ``IntegrationInput`` is one line here. Validation is the services' (``integration_rules``): a
``ConfigError`` names its field in ``where`` and the form shows the message next to that field. Only what the
services cannot see is checked here: a number that is not a number, a date that is not a date.

Secrets are never put back into a form: a secret field shows whether a value is stored, and a value is only
sent on when the admin typed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from calsync.crypto import Secret
from calsync.errors import ConfigError
from calsync.services.integrations import (
    AuthMode,
    CalendarType,
    IntegrationInput,
    IntegrationPatch,
    IntegrationView,
    UserPatch,
)


@dataclass(frozen=True, slots=True)
class Field:
    """One form field: its name (the service's), label, input type, hint and choices for a select."""

    name: str
    label: str
    kind: str = "text"
    hint: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """A fieldset: a legend and its fields."""

    legend: str
    fields: tuple[Field, ...]


INTEGRATION_FORM = (
    Group(
        "Business source",
        (
            Field("name", "Name", hint="Letters, digits, '_', '.' or '-'; it cannot be changed later."),
            Field("company", "Company"),
            Field("department", "Department", hint="Optional."),
            Field("description", "Description", hint="Optional."),
        ),
    ),
    Group(
        "Calendar server",
        (
            Field("connection_type", "Server type", "select", choices=tuple(CalendarType)),
            Field(
                "url",
                "Server URL",
                "url",
                hint="CalDAV: the calendar home; EWS: the Exchange.asmx URL; a folder: its full path.",
            ),
            Field("autodiscover", "Autodiscovery address", "email", hint="EWS, CalDAV or CardDAV, instead of a URL."),
            Field(
                "ca_bundle",
                "CA bundle",
                hint="EWS, CalDAV or CardDAV with a company CA: the full path of a PEM file on the calsync host, "
                "trusted instead of the system's CAs. Empty: the system's CAs.",
            ),
            Field("auth_mode", "Access", "select", choices=tuple(AuthMode)),
            Field("username", "Service account"),
            Field("password", "Password", "secret"),
            Field("client_id", "Client ID", hint="Microsoft 365: the app registration."),
            Field("tenant_id", "Tenant ID", hint="Microsoft 365: a GUID or a domain."),
            Field("client_secret", "Client secret", "secret"),
            Field("certificate", "Certificate (PEM with its private key)", "secret-text"),
        ),
    ),
    Group(
        "Sync",
        (
            Field("two_way", "Two-way (off: business to calendar only)", "checkbox"),
            Field("days_back", "Days back", "number", hint="0 to 60."),
            Field("days_forward", "Days forward", "number", hint="0 to 60."),
            Field("interval_minutes", "Changes every (minutes)", "number", hint="At least 1."),
            Field("full_sync_minutes", "Full sync every (minutes)", "number", hint="0 (never) to 1440."),
            Field("start_of_sync", "Start of sync", hint="Optional, with a time zone: 2026-01-05T08:00+01:00."),
        ),
    ),
    Group(
        "Activity types",
        (
            Field("appointment_activity", "Activity type for appointments", hint="Optional."),
            Field("task_activity", "Activity type for tasks", hint="Optional."),
        ),
    ),
)

SECRETS = ("password", "client_secret", "certificate")
_NUMBERS = ("days_back", "days_forward", "interval_minutes", "full_sync_minutes")
USER_OPTIONS: tuple[tuple[str, str], ...] = (
    ("appointments", "Appointments"),
    ("delete_in_calendar", "Delete in calendar"),
    ("delete_in_business", "Delete in business"),
    ("no_private_appointments", "No private appointments"),
    ("tasks", "Tasks"),
    ("delete_tasks_in_calendar", "Delete tasks in calendar"),
    ("delete_tasks_in_business", "Delete tasks in business"),
    ("no_private_tasks", "No private tasks"),
    ("contacts", "Contacts"),
)


class FormInvalid(Exception):
    """Posted fields the services cannot be given: ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def defaults() -> dict[str, str]:
    """The values a new integration's form starts with: the services' defaults."""
    blank = IntegrationInput("", "", CalendarType.CALDAV)
    return shown({f.name: getattr(blank, f.name) for f in fields(IntegrationInput) if f.name not in SECRETS})


def from_view(view: IntegrationView) -> dict[str, str]:
    """A stored integration's values for its edit form (a view has no secrets to leak)."""
    return shown({f.name: getattr(view, f.name) for f in fields(IntegrationInput) if f.name not in SECRETS})


def shown(values: Mapping[str, Any]) -> dict[str, str]:
    """Values as a form shows them: booleans as ``"on"``/``""``, times in ISO 8601, ``None`` as empty."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            out[name] = "on" if value else ""
        elif isinstance(value, datetime):
            out[name] = value.isoformat()  # in full, so saving the form unchanged keeps the same time
        else:
            out[name] = "" if value is None else str(value)
    return out


def posted_values(given: Mapping[str, str]) -> dict[str, str]:
    """What to show again in a form that failed: the posted plain values, never a secret."""
    names = [f.name for group in INTEGRATION_FORM for f in group.fields if f.name not in SECRETS]
    return {name: given.get(name, "").strip() for name in names}


def new_integration(given: Mapping[str, str]) -> IntegrationInput:
    """The ``IntegrationInput`` of a posted add form; raises ``FormInvalid`` for unreadable numbers or dates."""
    return IntegrationInput(**_plain(given), **_secrets(given))


def integration_patch(given: Mapping[str, str]) -> IntegrationPatch:
    """The ``IntegrationPatch`` of a posted edit form: every plain field, and the secrets that were typed."""
    values = _plain(given)
    values.pop("name", None)
    return IntegrationPatch(**values, **_secrets(given))


def user_patch(given: Mapping[str, str]) -> UserPatch:
    """Every option from its checkbox (an unticked one is not posted, so it is off) and the mailbox."""
    options = {name: name in given for name, _ in USER_OPTIONS}
    mailbox = given.get("mailbox", "").strip()
    return UserPatch(mailbox=mailbox or None, **options)


def field_errors(exc: ConfigError) -> dict[str, str]:
    """A service's ``ConfigError`` as ``{field: message}`` (``users.mailbox`` becomes ``mailbox``)."""
    where = exc.where.removeprefix("users.") or "form"
    message = str(exc).removeprefix(f"{exc.where}: ") if exc.where else str(exc)
    return {where: message[:1].upper() + message[1:]}


def _plain(given: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: value for name, value in posted_values(given).items() if name not in _NUMBERS}
    values["two_way"] = bool(given.get("two_way"))
    errors: dict[str, str] = {}
    for name in _NUMBERS:
        try:
            values[name] = int(given.get(name, "").strip())
        except ValueError:
            errors[name] = "Give a whole number."
    start = values.pop("start_of_sync")
    values["start_of_sync"] = None
    if start:
        try:
            values["start_of_sync"] = datetime.fromisoformat(start)
        except ValueError:
            errors["start_of_sync"] = "Give a date and time with a time zone, like 2026-01-05T08:00+01:00."
    if errors:
        raise FormInvalid(errors)
    return values


def _secrets(given: Mapping[str, str]) -> dict[str, Any]:
    """The secrets that were typed, as ``Secret`` values by field name, exactly as typed (blanks included)."""
    return {name: Secret(value) for name in SECRETS if (value := given.get(name, "")).strip()}
