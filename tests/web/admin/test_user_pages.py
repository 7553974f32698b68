"""The users page through the ASGI transport: adding, a checkbox per option, mailbox rules, removal."""

from __future__ import annotations

import re

import pytest

from calsync.config import Settings
from calsync.model.users import UserOptions
from calsync.services.integrations import open_integrations
from calsync.web.admin.forms import USER_OPTIONS
from tests.web.admin.conftest import Admin
from tests.web.admin.test_integration_pages import CALDAV, GRAPH

pytestmark = pytest.mark.anyio


@pytest.fixture
async def graph(admin: Admin) -> Admin:
    assert (await admin.post("/admin/integrations/new", GRAPH)).status_code == 303
    return admin


def test_the_page_offers_every_user_option() -> None:
    assert [name for name, _ in USER_OPTIONS] == list(UserOptions.__dataclass_fields__)


async def test_a_user_is_added_with_every_option_on(graph: Admin, settings: Settings) -> None:
    added = await graph.post(
        "/admin/integrations/contoso/users", {"business_user": "anna", "mailbox": "anna@contoso.com"}
    )
    assert added.headers["location"] == "/admin/integrations/contoso/users?note=user-added"
    page = await graph.get(added.headers["location"])
    assert "The user was added with every option on." in page.text
    boxes = re.findall(r'<input type="checkbox" id="user-1-(\w+)" form="user-1" name="\w+"( checked)?>', page.text)
    assert [(name, bool(on)) for name, on in boxes] == [(name, True) for name, _ in USER_OPTIONS]
    for name, label in USER_OPTIONS:
        assert f'<label class="vh" for="user-1-{name}">{label} for anna</label>' in page.text
    with open_integrations(settings) as service:
        assert service.users("contoso")[0].flags == UserOptions()


async def test_unticked_options_are_switched_off_and_the_mailbox_changed(graph: Admin, settings: Settings) -> None:
    await graph.post("/admin/integrations/contoso/users", {"business_user": "anna", "mailbox": "anna@contoso.com"})
    saved = await graph.post(
        "/admin/integrations/contoso/users/anna", {"mailbox": "a.b@contoso.com", "appointments": "on", "tasks": "on"}
    )
    assert saved.status_code == 303
    with open_integrations(settings) as service:
        user = service.users("contoso")[0]
    assert user.mailbox == "a.b@contoso.com"
    assert user.flags == UserOptions(*(name in ("appointments", "tasks") for name, _ in USER_OPTIONS))
    page = await graph.get("/admin/integrations/contoso/users")
    assert 'id="user-1-tasks" form="user-1" name="tasks" checked' in page.text
    assert 'id="user-1-contacts" form="user-1" name="contacts">' in page.text


async def test_a_refused_mailbox_is_named_next_to_the_field(graph: Admin) -> None:
    refused = await graph.post("/admin/integrations/contoso/users", {"business_user": "anna", "mailbox": "anna"})
    assert refused.status_code == 422
    assert re.search(
        r'<p class="error" id="e-mailbox">&#39;anna&#39; is not an e-mail address, which graph needs', refused.text
    )
    assert 'value="anna"' in refused.text
    await graph.post("/admin/integrations/contoso/users", {"business_user": "anna", "mailbox": "anna@contoso.com"})
    taken = await graph.post(
        "/admin/integrations/contoso/users", {"business_user": "bob", "mailbox": "ANNA@contoso.com"}
    )
    assert "is already mapped to &#39;anna&#39;" in taken.text
    bad_edit = await graph.post("/admin/integrations/contoso/users/anna", {"mailbox": "not-a-mailbox"})
    assert bad_edit.status_code == 422
    assert "anna: &#39;not-a-mailbox&#39; is not an e-mail address" in bad_edit.text


async def test_a_user_is_removed(admin: Admin, settings: Settings) -> None:
    await admin.post("/admin/integrations/new", CALDAV)
    await admin.post("/admin/integrations/acme/users", {"business_user": "anna", "mailbox": "anna"})
    removed = await admin.post("/admin/integrations/acme/users/anna/remove")
    assert removed.headers["location"] == "/admin/integrations/acme/users?note=user-removed"
    with open_integrations(settings) as service:
        assert service.users("acme") == []
    assert "acme has no users yet." in (await admin.get("/admin/integrations/acme/users")).text
    assert (await admin.post("/admin/integrations/acme/users/anna/remove")).status_code == 404


async def test_the_users_of_an_unknown_integration_are_not_found(admin: Admin) -> None:
    assert (await admin.get("/admin/integrations/nothing/users")).status_code == 404
