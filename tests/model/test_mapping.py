"""Category and map link templates: only the named fields are filled, and a category has a bounded length."""

from __future__ import annotations

import pytest

from calsync.model.mapping import MAX_CATEGORY, ActivityType, MappingRules, fill


def test_fill_puts_each_field_and_keeps_doubled_braces() -> None:
    assert fill("ES_{number}_{description} {{x}}", {"number": "7", "description": "Repair"}) == "ES_7_Repair {x}"


@pytest.mark.parametrize("template", ["{code:>20000000}", "{code.real}", "{code[0]}", "{0}", "{}", "{nope}", "a{", "}"])
def test_fill_refuses_anything_but_a_plain_field(template: str) -> None:
    """str.format took these: a width wrote megabytes into every item, an attribute was a 500."""
    with pytest.raises(ValueError, match="is not a field"):
        fill(template, {"code": "SV"})


def test_a_category_is_cut_at_the_longest_a_calendar_takes() -> None:
    """An item's activity type may be long (it is not one of the listed ones): its category still fits."""
    rules = MappingRules(category_template="{code}", activity_types=(ActivityType("SV", description="x" * 999),))
    assert len(rules.category_of("Y" * 5000)) == MAX_CATEGORY
    assert rules.activity_of(rules.category_of("SV")) == "SV"
