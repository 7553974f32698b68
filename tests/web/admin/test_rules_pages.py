"""The item rules page through the ASGI transport: the form shows the rules in force, saves every field as the
service reads it, puts a refused value next to its field (the right table line included) and refuses a forgery."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calsync.config import Settings
from calsync.model.mapping import ActivityType, MappingRules
from calsync.services.hub import open_hub
from calsync.services.hub_rules import HubRules
from calsync.sync.rules import ConflictPolicy, MassDeleteGuard, Selection
from tests.web.admin.conftest import Admin
from tests.web.admin.hub_setup import FolderHub

pytestmark = pytest.mark.anyio

FORM = {
    "selection.only_flagged": "on", "selection.tag": "[sync]", "selection.within_days": "30",
    "imports_need_review": "", "conflict": "newest-wins",
    "guard.max_share": "0.25", "guard.max_count": "40", "guard.min_items": "3",
    "mapping.category_template": "{code} {description}", "mapping.marker": "From ERP",
    "mapping.enrich_equipment": "on", "mapping.enrich_map_link": "on",
    "mapping.map_url": "https://maps.example/?q={query}",
    "mapping.activity_types[0].code": "", "mapping.activity_types[0].colour": "#000000",
    "mapping.activity_types[0].no_colour": "on",
    "mapping.activity_types[1].code": "SV", "mapping.activity_types[1].number": "10",
    "mapping.activity_types[1].description": "Service", "mapping.activity_types[1].colour": "#1e90ff",
    "mapping.activity_types[2].code": "RP", "mapping.activity_types[2].description": "Repair",
    "mapping.activity_types[2].colour": "#000000", "mapping.activity_types[2].no_colour": "on",
    "priority_levels[0].level": "P1", "priority_levels[0].priority": "high",
    "priority_levels[1].level": "", "priority_levels[1].priority": "normal",
    "priority_levels[2].level": "P3", "priority_levels[2].priority": "low",
}  # fmt: skip


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> FolderHub:
    return FolderHub(settings, tmp_path / "calendars")


def stored(settings: Settings) -> HubRules:
    with open_hub(settings) as hub:
        return hub.rules("acme")


def error_at(page: str, control: str) -> str:
    """The message shown at the control with id ``f-<control>``, which must be marked invalid and point at it."""
    found = re.search(rf'<p class="error" id="e-{re.escape(control)}">([^<]+)</p>', page)
    assert found is not None, f"no error at {control}"
    tag = re.search(rf'<(?:input|select)[^>]*id="f-{re.escape(control)}"[^>]*>', page)
    assert tag is not None
    assert 'aria-invalid="true"' in tag.group(0)
    assert f"e-{control}" in tag.group(0)
    assert f'<a href="#f-{control}">' in page  # the summary at the top links to it
    return found.group(1)


async def test_the_form_shows_the_defaults_with_empty_lines_to_add_to(admin: Admin, world: FolderHub) -> None:
    page = await admin.get("/admin/integrations/acme/rules")
    assert page.status_code == 200
    assert '<option value="a-wins" selected>a-wins</option>' in page.text
    assert 'id="f-guard-max_share" name="guard.max_share" type="number" inputmode="decimal" value="0.5"' in page.text
    assert 'id="f-imports_need_review" name="imports_need_review" type="checkbox" checked' in page.text
    assert 'value="https://www.openstreetmap.org/search?query={query}"' in page.text
    colours = re.findall(r'<input type="color" id="f-mapping-activity_types-(\d)-colour"', page.text)
    assert colours == ["0", "1", "2"]
    assert len(re.findall(r'name="priority_levels\[\d\]\.level"', page.text)) == 3
    assert 'aria-label="Code of line 1"' in page.text
    assert 'href="/admin/integrations/acme/rules" aria-current="page"' in page.text
    assert (await admin.get("/admin/integrations/nothing/rules")).status_code == 404
    edit = await admin.get("/admin/integrations/acme")
    for link in ("held", "journal", "rules"):
        assert f'href="/admin/integrations/acme/{link}"' in edit.text


async def test_every_field_is_saved_as_the_service_reads_it(admin: Admin, world: FolderHub, settings: Settings) -> None:
    with open_hub(settings) as hub:  # a rule the form does not show is kept
        hub.set_rules("acme", {"mapping": {"default_appointment_activity": "SV"}})
    saved = await admin.post("/admin/integrations/acme/rules", FORM)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/integrations/acme/rules?note=saved"
    expected = HubRules(
        mapping=MappingRules(
            activity_types=(ActivityType("SV", "10", "Service", "#1e90ff"), ActivityType("RP", "", "Repair", "")),
            category_template="{code} {description}",
            marker="From ERP",
            enrich_equipment=True,
            enrich_map_link=True,
            map_url="https://maps.example/?q={query}",
            default_appointment_activity="SV",
        ),
        selection=Selection(only_flagged=True, tag="[sync]", within_days=30),
        imports_need_review=False,
        conflict=ConflictPolicy.NEWEST_WINS,
        guard=MassDeleteGuard(0.25, 40, 3),
        priority_levels={"P1": "high", "P3": "low"},
    )
    assert stored(settings) == expected
    page = await admin.get(saved.headers["location"])
    assert "The changes were saved." in page.text
    assert 'name="mapping.activity_types[0].code" aria-label="Code of line 1" value="SV"' in page.text
    assert 'id="f-mapping-activity_types-0-colour" name="mapping.activity_types[0].colour"' in page.text
    assert 'value="#1e90ff"' in page.text
    assert re.search(r'name="mapping\.activity_types\[1\]\.no_colour" checked>', page.text)  # RP has no colour
    assert len(re.findall(r'name="mapping\.activity_types\[\d\]\.code"', page.text)) == 5  # two and three empty
    assert '<option value="newest-wins" selected>newest-wins</option>' in page.text
    assert 'name="priority_levels[1].level" aria-label="Business level of line 2" value="P3"' in page.text
    assert stored(settings) == expected  # showing changed nothing
    again = await admin.post("/admin/integrations/acme/rules", FORM)
    assert again.status_code == 303
    assert stored(settings) == expected  # saving the same form again is the same rules


@pytest.mark.parametrize(
    ("change", "control", "message"),
    [
        ({"mapping.activity_types[2].colour": "red", "mapping.activity_types[2].no_colour": ""},
         "mapping-activity_types-2-colour", "&#39;red&#39; is not a #rrggbb colour"),
        ({"mapping.category_template": "{nope}"}, "mapping-category_template",
         "May only use {code}, {number} and {description}"),
        ({"mapping.category_template": "{code:>20000000}"}, "mapping-category_template",
         "May only use {code}, {number} and {description}"),  # the form shares the API's check
        ({"selection.within_days": "-1"}, "selection-within_days", "Must be 0 (off) or more"),
        ({"guard.max_count": "many"}, "guard-max_count", "Give a whole number."),
        ({"guard.max_share": "half"}, "guard-max_share", "Give a number, like 0.5."),
    ],
)  # fmt: skip
async def test_a_refused_value_is_named_at_its_field_and_the_rest_is_kept(
    admin: Admin, world: FolderHub, settings: Settings, change: dict[str, str], control: str, message: str
) -> None:
    answer = await admin.post("/admin/integrations/acme/rules", FORM | change)
    assert answer.status_code == 422
    assert error_at(answer.text, control).startswith(message)
    assert "The rules were not saved: 1 field needs a change." in answer.text
    assert 'value="From ERP"' in answer.text  # what was typed is kept
    assert 'value="P3"' in answer.text
    assert stored(settings) == HubRules()


async def test_a_refused_priority_level_is_named_at_the_levels(admin: Admin, world: FolderHub) -> None:
    answer = await admin.post("/admin/integrations/acme/rules", FORM | {"priority_levels[0].priority": "urgent"})
    assert answer.status_code == 422
    assert '<p class="error" id="e-priority_levels">Must map business levels to low|normal|high' in answer.text
    assert '<a href="#f-priority_levels">' in answer.text


async def test_a_save_without_the_sessions_token_is_refused(admin: Admin, world: FolderHub, settings: Settings) -> None:
    forged = await admin.client.post("/admin/integrations/acme/rules", data=FORM | {"csrf": "forged"})
    assert forged.status_code == 403
    assert (await admin.client.post("/admin/integrations/acme/rules", data=FORM)).status_code == 403
    assert stored(settings) == HubRules()
