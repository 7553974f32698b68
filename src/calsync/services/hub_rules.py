"""An integration's item rules and mappings, as stored (JSON in ``integration_rules``) and checked.

Every option has the default the hub issue names: private items skipped, selection off, imports flagged for
review, no category mapping, no marker, no enrichment. The defaults live in the dataclasses, so a rule added
later is off (or at its default) for integrations stored before it existed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar, get_type_hints

from calsync.errors import ConfigError
from calsync.model.mapping import CATEGORY_FIELDS, MAP_FIELDS, MAX_CATEGORY, ActivityType, MappingRules, fill
from calsync.sync.rules import ConflictPolicy, MassDeleteGuard, Selection

PRIORITIES = ("low", "normal", "high")
"""Calendar priorities business levels map to (iCalendar 9, 5 and 1)."""

_ICAL_PRIORITY = {"low": 9, "normal": 5, "high": 1}
_T = TypeVar("_T")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_MAP_URL = 2000
"""The longest map link template taken (the address is added to it in every exported description)."""


@dataclass(frozen=True, slots=True)
class HubRules:
    """The rules of one integration.

    ``priority_levels`` maps business priority levels to ``low``/``normal``/``high``; items created in a calendar
    get the level that maps to their calendar priority (``normal`` when they have none).
    """

    mapping: MappingRules = field(default_factory=MappingRules)
    selection: Selection = field(default_factory=Selection)
    imports_need_review: bool = True
    conflict: ConflictPolicy = ConflictPolicy.A_WINS
    guard: MassDeleteGuard = field(default_factory=MassDeleteGuard)
    priority_levels: dict[str, str] = field(default_factory=dict)

    def calendar_priority(self, level: str) -> int:
        """The iCalendar PRIORITY of a business level (0, undefined, for an unknown or empty one)."""
        word = self.priority_levels.get(level, level if level in _ICAL_PRIORITY else "")
        return _ICAL_PRIORITY.get(word, 0)

    def business_level(self, priority: int) -> str:
        """The business level of an iCalendar PRIORITY: the first level mapped to its word, else the word."""
        word = "high" if 1 <= priority <= 4 else "low" if priority >= 6 else "normal"
        return next((level for level, mapped in self.priority_levels.items() if mapped == word), word)

    def to_json(self) -> str:
        """The rules as stored."""
        data = asdict(self)
        data["conflict"] = self.conflict.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> HubRules:
        """Rules as stored; ``None`` (never set) gives the defaults. Raises ``ConfigError`` naming a bad field."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the stored rules are not JSON: {exc}", where="rules") from None
        return rules_from_dict(data)


def rules_from_dict(data: Any) -> HubRules:
    """Rules from plain data (the API's or a profile's), checked; unknown keys are refused so a typo is seen."""
    if not isinstance(data, dict):
        raise ConfigError("rules must be an object", where="rules")
    _known(data, HubRules, "rules")
    mapping = _mapping(data.get("mapping", {}))
    selection = _plain(Selection, data.get("selection", {}), "rules.selection")
    guard = _plain(MassDeleteGuard, data.get("guard", {}), "rules.guard")
    try:
        conflict = ConflictPolicy(data.get("conflict", ConflictPolicy.A_WINS.value))
    except ValueError:
        allowed = "|".join(p.value for p in ConflictPolicy)
        raise ConfigError(f"must be one of {allowed}", where="rules.conflict") from None
    levels = data.get("priority_levels", {})
    if not isinstance(levels, dict) or any(v not in PRIORITIES for v in levels.values()):
        raise ConfigError("must map business levels to low|normal|high", where="rules.priority_levels")
    review = data.get("imports_need_review", True)
    if not isinstance(review, bool):
        raise ConfigError("must be true or false", where="rules.imports_need_review")
    if not 0 < guard.max_share <= 1:
        raise ConfigError(f"must be more than 0 and at most 1, not {guard.max_share}", where="rules.guard.max_share")
    if guard.max_count < 0 or guard.min_items < 1:
        where = "rules.guard.max_count" if guard.max_count < 0 else "rules.guard.min_items"
        raise ConfigError("max_count must be 0 or more and min_items at least 1", where=where)
    if selection.within_days < 0:
        raise ConfigError("must be 0 (off) or more", where="rules.selection.within_days")
    return HubRules(mapping, selection, review, conflict, guard, {str(k): str(v) for k, v in levels.items()})


def _mapping(data: Any) -> MappingRules:
    if not isinstance(data, dict):
        raise ConfigError("must be an object", where="rules.mapping")
    activities = data.get("activity_types", [])
    if not isinstance(activities, list):
        raise ConfigError("must be a list", where="rules.mapping.activity_types")
    types = tuple(_plain(ActivityType, a, f"rules.mapping.activity_types[{n}]") for n, a in enumerate(activities))
    for n, activity in enumerate(types):
        if activity.colour and not _COLOUR.fullmatch(activity.colour):
            raise ConfigError(
                f"{activity.colour!r} is not a #rrggbb colour", where=f"rules.mapping.activity_types[{n}].colour"
            )
    plain = {k: v for k, v in data.items() if k != "activity_types"}
    mapping = replace(_plain(MappingRules, plain, "rules.mapping"), activity_types=types)
    _template(mapping.category_template, CATEGORY_FIELDS, MAX_CATEGORY, "rules.mapping.category_template")
    _template(mapping.map_url, MAP_FIELDS, MAX_MAP_URL, "rules.mapping.map_url")
    return mapping


def _template(template: str, names: tuple[str, ...], longest: int, where: str) -> None:
    """Refuse a template naming anything but ``names`` (no format spec, attribute or index) or longer than
    ``longest``: it is rendered into every exported item."""
    try:
        fill(template, dict.fromkeys(names, ""))
    except ValueError as exc:
        shown = " and ".join(", ".join("{" + n + "}" for n in names).rsplit(", ", 1))
        raise ConfigError(f"may only use {shown}, with nothing after the name; {exc}", where=where) from None
    if len(template) > longest:
        raise ConfigError(f"must be at most {longest} characters, not {len(template)}", where=where)


def _known(data: dict[str, Any], kind: type, where: str) -> None:
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r}; known: {', '.join(sorted(names))}", where=where)


def _plain(kind: type[_T], data: Any, where: str) -> _T:
    """A dataclass of plain fields (str, bool, int, float) from a dict, each value's type checked."""
    if not isinstance(data, dict):
        raise ConfigError("must be an object", where=where)
    _known(data, kind, where)
    hints = get_type_hints(kind)
    for name, value in data.items():
        expected = hints[name]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if expected in (str, bool, int, float) and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        ):
            raise ConfigError(f"must be a {expected.__name__}, not {value!r}", where=f"{where}.{name}")
    try:
        return kind(**data)
    except TypeError as exc:
        raise ConfigError(str(exc), where=where) from None
