"""Outlook master categories: each activity type becomes a category with its preset colour in every mailbox.

Provisioning is idempotent: a category whose name matches (case-insensitively, as Outlook compares names) is
reused, never duplicated. Its colour is left alone unless ``recolour`` is asked for. Why: the master list is the
user's own (Outlook lets every user recolour categories), a name is the only thing items refer to, and a hub that
silently repaints a user's categories on every run would fight the user; an administrator who wants the business
colours everywhere runs it once with ``recolour=True``. A name can never be changed once created (Graph allows
PATCH of ``color`` only), so nothing else is ever updated.
https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from calsync.connectors.graph.transport import Call, Json, Transport, check
from calsync.errors import InvalidItem

_PRESET = re.compile(r"^(none|preset([0-9]|1[0-9]|2[0-4]))$")


class Provisioned(StrEnum):
    """What provisioning did with one category."""

    CREATED = "created"
    KEPT = "kept"
    RECOLOURED = "recoloured"


@dataclass(frozen=True, slots=True)
class CategoryOutcome:
    """One category in one mailbox after provisioning: its id, the colour it has now and what was done."""

    mailbox: str
    name: str
    category_id: str
    colour: str
    outcome: Provisioned


def list_categories(mailbox: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/outlookuser-list-mastercategories"""
    return Call("GET", f"/users/{quote(mailbox)}/outlook/masterCategories")


def create_category(mailbox: str, name: str, colour: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/outlookuser-post-mastercategories"""
    return Call("POST", f"/users/{quote(mailbox)}/outlook/masterCategories", {"displayName": name, "color": colour})


def update_category(mailbox: str, category_id: str, colour: str) -> Call:
    """Only ``color`` is writable. https://learn.microsoft.com/en-us/graph/api/outlookcategory-update"""
    path = f"/users/{quote(mailbox)}/outlook/masterCategories/{quote(category_id, safe='')}"
    return Call("PATCH", path, {"color": colour})


def provision(
    transport: Transport, mailbox: str, wanted: Mapping[str, str], *, recolour: bool = False
) -> list[CategoryOutcome]:
    """Make every ``name -> colour preset`` of ``wanted`` a master category of ``mailbox`` (see the module docstring).

    Raises ``InvalidItem`` before any request when a colour is not ``none`` or ``preset0`` .. ``preset24``, and the
    transport's errors (``AuthError`` without MailboxSettings.ReadWrite, ``NotFound`` for an unknown mailbox).
    Safe to repeat and to run concurrently: a name created meanwhile (409) is looked up and reused.
    """
    for name, colour in wanted.items():
        if not name.strip() or not _PRESET.match(colour):
            raise InvalidItem(f"category {name!r}: {colour!r} is not a preset colour (none, preset0..preset24)")
    existing = _by_name(transport.call(list_categories(mailbox), mailbox))
    outcomes = []
    for name, colour in wanted.items():
        found = existing.get(name.lower())
        if found is None:
            found, outcome = _create(transport, mailbox, name, colour)
        elif recolour and found.get("color") != colour:
            found = transport.call(update_category(mailbox, str(found["id"]), colour), mailbox)
            outcome = Provisioned.RECOLOURED
        else:
            outcome = Provisioned.KEPT
        outcomes.append(
            CategoryOutcome(mailbox, str(found["displayName"]), str(found["id"]), str(found.get("color")), outcome)
        )
    return outcomes


def _create(transport: Transport, mailbox: str, name: str, colour: str) -> tuple[Json, Provisioned]:
    reply = transport.send(create_category(mailbox, name, colour), mailbox)
    if reply.status == 409:  # created by someone else since we listed: reuse it
        again = _by_name(transport.call(list_categories(mailbox), mailbox)).get(name.lower())
        if again is not None:
            return again, Provisioned.KEPT
    return check(reply, transport.name).body, Provisioned.CREATED


def _by_name(page: Json) -> dict[str, Json]:
    return {str(c.get("displayName", "")).lower(): c for c in page.get("value") or ()}
