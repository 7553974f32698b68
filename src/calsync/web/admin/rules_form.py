"""The item rules form: its fields as data, the stored rules as form values, and posted fields as plain rules data.

Why plain data and not ``HubRules``: ``HubService.set_rules`` checks plain JSON-like data with the same code the
API uses (``rules_from_dict``), so the form cannot accept what the API would refuse. A ``ConfigError`` names its
field in ``where`` (``rules.mapping.activity_types[0].colour``); field names here are those paths without the
``rules.`` prefix, so the message lands next to its field. Only what the services cannot see is checked here: a
number that is not a number.

The tables (activity types, priority levels) post one row per line with a few empty lines to add to; an empty
line is left out, so the n-th activity type given to the service is not always the n-th line: ``RulesForm.rows``
keeps which line each one came from, to put its error on the right line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calsync.errors import ConfigError
from calsync.services.hub_rules import PRIORITIES, HubRules
from calsync.sync.rules import ConflictPolicy
from calsync.web.admin.forms import Field, FormInvalid, Group

RULES_FORM = (
    Group(
        "Which items are synced",
        (
            Field("selection.only_flagged", "Export only items flagged for sync", "checkbox"),
            Field("selection.only_future", "Export only items that start in the future", "checkbox"),
            Field("selection.tag", "Import only calendar items whose title carries", hint="Like [sync]; empty: all."),
            Field("selection.single_only", "Import no recurring series", "checkbox"),
            Field("selection.within_days", "Import only items ending within (days)", "number", hint="0: off."),
        ),
    ),
    Group(
        "Review and conflicts",
        (
            Field("imports_need_review", "Items created in a calendar need review", "checkbox"),
            Field(
                "conflict",
                "When both sides changed an item",
                "select",
                hint="a-wins: the business system wins; b-wins: the calendar wins; newest-wins: the later change "
                "wins (the business system on a tie).",
                choices=tuple(ConflictPolicy),
            ),
        ),
    ),
    Group(
        "Mass-deletion guard",
        (
            Field("guard.max_share", "Hold when more than this share of a side would go", "number", hint="Like 0.5."),
            Field("guard.max_count", "Hold when more than this many items would go", "number"),
            Field("guard.min_items", "Hold a share only once at least this many would go", "number"),
        ),
    ),
    Group(
        "Categories and descriptions",
        (
            Field(
                "mapping.category_template",
                "Category of an activity type",
                hint="{code}, {number} and {description} are replaced; empty: activity types are no categories.",
            ),
            Field("mapping.marker", "Category on every exported item", hint="Like “Received from ERP”; empty: none."),
            Field("mapping.enrich_priority", "Add the priority to the description", "checkbox"),
            Field("mapping.enrich_equipment", "Add the equipment to the description", "checkbox"),
            Field("mapping.enrich_map_link", "Add a map link to the customer's address", "checkbox"),
            Field("mapping.map_url", "Map link", "url", hint="{query} is replaced by the address."),
        ),
    ),
)

ACTIVITY_COLUMNS = ("code", "number", "description", "colour")
EMPTY_ROWS = 3
"""Empty table lines offered for adding activity types and priority levels (more after each save)."""
PRIORITY_CHOICES = PRIORITIES
_FIELDS = {f.name: f for group in RULES_FORM for f in group.fields}
_INTS = ("selection.within_days", "guard.max_count", "guard.min_items")
_ROW = re.compile(r"(mapping\.activity_types|priority_levels)\[(\d+)\]\.(\w+)")
_WHERE_ROW = re.compile(r"mapping\.activity_types\[(\d+)\](?:\.(\w+))?")


@dataclass(frozen=True, slots=True)
class RulesForm:
    """What the form shows: plain field values, the activity type lines and the priority level lines."""

    values: dict[str, str]
    activities: list[dict[str, str]]
    levels: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class PostedRules:
    """Posted rules as the service's plain data; ``rows[n]`` is the form line of the n-th activity type."""

    data: dict[str, Any]
    rows: tuple[int, ...]


def from_rules(rules: HubRules) -> RulesForm:
    """The stored rules as the form shows them, with empty lines to add to."""
    data = json.loads(rules.to_json())
    values = {name: _shown(_get(data, name)) for name in _FIELDS}
    activities = [
        {column: str(activity.get(column, "")) for column in ACTIVITY_COLUMNS}
        for activity in data["mapping"]["activity_types"]
    ]
    levels = [{"level": level, "priority": word} for level, word in data["priority_levels"].items()]
    return RulesForm(values, _padded(activities, ACTIVITY_COLUMNS), _padded(levels, ("level", "priority")))


def from_posted(given: Mapping[str, str]) -> RulesForm:
    """A refused form as it was posted, so nothing typed is lost."""
    values = {name: given.get(name, "").strip() for name in _FIELDS}
    tables: dict[str, dict[int, dict[str, str]]] = {"mapping.activity_types": {}, "priority_levels": {}}
    for name, value in given.items():
        found = _ROW.fullmatch(name)
        if found is not None:
            tables[found.group(1)].setdefault(int(found.group(2)), {})[found.group(3)] = value.strip()
    activities = [row for _, row in sorted(tables["mapping.activity_types"].items())]
    for row in activities:
        if row.pop("no_colour", ""):
            row["colour"] = ""
    levels = [row for _, row in sorted(tables["priority_levels"].items())]
    return RulesForm(values, activities, levels)


def posted_rules(given: Mapping[str, str], current: HubRules) -> PostedRules:
    """The posted form as the service's plain data, on top of ``current`` (so a rule this form does not show,
    like the default activity types, is kept). Raises ``FormInvalid`` for a number that is not one."""
    form = from_posted(given)
    data: dict[str, Any] = json.loads(current.to_json())
    errors: dict[str, str] = {}
    for name, field in _FIELDS.items():
        section, _, key = name.rpartition(".")
        target = data[section] if section else data
        target[key] = _parsed(field, form.values[name], errors)
    if errors:
        raise FormInvalid(errors)
    kept = [(n, row) for n, row in enumerate(form.activities) if row.get("code")]
    data["mapping"]["activity_types"] = [
        {column: row.get(column, "") for column in ACTIVITY_COLUMNS} for _, row in kept
    ]
    data["priority_levels"] = {row["level"]: row.get("priority", "") for row in form.levels if row.get("level")}
    return PostedRules(data, tuple(n for n, _ in kept))


def rules_errors(exc: ConfigError, rows: tuple[int, ...]) -> dict[str, str]:
    """A service's ``ConfigError`` as ``{field: message}``: the activity type's index turned into its form line;
    an error of no field the form shows is the form's."""
    where = exc.where.removeprefix("rules.")
    message = str(exc).removeprefix(f"{exc.where}: ") if exc.where else str(exc)
    message = message[:1].upper() + message[1:]
    found = _WHERE_ROW.fullmatch(where)
    if found is not None:
        index = int(found.group(1))
        line = rows[index] if index < len(rows) else index
        return {f"mapping.activity_types[{line}].{found.group(2) or 'code'}": message}
    if where in _FIELDS or where == "priority_levels":
        return {where: message}
    return {"form": message}


def _parsed(field: Field, text: str, errors: dict[str, str]) -> Any:
    """One posted value as the service's type: a checkbox is on when posted, a number must read as one."""
    if field.kind == "checkbox":
        return bool(text)
    if field.name in _INTS:
        try:
            return int(text)
        except ValueError:
            errors[field.name] = "Give a whole number."
            return 0
    if field.kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            errors[field.name] = "Give a number, like 0.5."
        return number
    return text


def _get(data: Mapping[str, Any], name: str) -> Any:
    section, _, key = name.rpartition(".")
    return (data[section] if section else data)[key]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else ""
    return str(value)


def _padded(rows: list[dict[str, str]], columns: tuple[str, ...]) -> list[dict[str, str]]:
    return rows + [dict.fromkeys(columns, "") for _ in range(EMPTY_ROWS)]
