"""The integrations pages through the ASGI transport: the form, inline validation, secrets, removal, checks."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from calsync.config import Settings
from calsync.services.integrations import IntegrationInput, open_integrations
from tests.services.test_integrations import pem_file
from tests.web.admin.conftest import PASSWORD, Admin

pytestmark = pytest.mark.anyio

DAV_PASSWORD = "dav-pa55word-never-rendered"
CLIENT_SECRET = "graph-client-secret-never-rendered"
CERTIFICATE = "-----BEGIN PRIVATE KEY-----never-rendered-----END PRIVATE KEY-----"
SECRETS = (DAV_PASSWORD, CLIENT_SECRET, CERTIFICATE, PASSWORD)
CALDAV = {
    "name": "acme", "company": "ACME", "department": "Field", "description": "Technicians",
    "connection_type": "caldav", "auth_mode": "delegate", "url": "http://127.0.0.1:9/dav/svc/", "autodiscover": "",
    "ca_bundle": "", "username": "svc", "password": DAV_PASSWORD, "client_id": "", "tenant_id": "",
    "client_secret": "", "certificate": "", "two_way": "on", "days_back": "14", "days_forward": "45",
    "interval_minutes": "15", "full_sync_minutes": "720", "start_of_sync": "", "appointment_activity": "Visit",
    "task_activity": "Call",
}  # fmt: skip
GRAPH = CALDAV | {
    "name": "contoso", "connection_type": "graph", "auth_mode": "oauth", "url": "", "username": "", "password": "",
    "client_id": "11111111-2222-3333-4444-555555555555", "tenant_id": "contoso.com", "client_secret": CLIENT_SECRET,
    "certificate": CERTIFICATE,
}  # fmt: skip


def error_next_to(page: str, field: str) -> str:
    """The message shown under ``field``, which must also be marked invalid and point at the message."""
    found = re.search(rf'<p class="error" id="e-{field}">([^<]+)</p>', page)
    assert found is not None, f"no error under {field}"
    control = re.search(rf'<(?:input|select|textarea) id="f-{field}"[^>]*>', page)
    assert control is not None
    assert 'aria-invalid="true"' in control.group(0)
    assert f"e-{field}" in control.group(0)
    return found.group(1)


async def test_the_form_has_every_field_of_an_integration_and_starts_with_the_defaults(admin: Admin) -> None:
    form = await admin.get("/admin/integrations/new")
    assert form.status_code == 200
    for field in fields(IntegrationInput):
        assert f'name="{field.name}"' in form.text, field.name
        assert f'<label for="f-{field.name}">' in form.text, field.name
    assert 'id="f-interval_minutes" name="interval_minutes" type="number" inputmode="numeric" value="20"' in form.text
    assert 'id="f-two_way" name="two_way" type="checkbox" checked' in form.text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"days_forward": "99"}, "days_forward", "Must be between 0 and 60, not 99"),
        ({"interval_minutes": "often"}, "interval_minutes", "Give a whole number."),
        ({"name": "a b"}, "name", "&#39;a b&#39; is not a valid name"),
        ({"company": ""}, "company", "The company is required"),
        ({"url": "ftp://x"}, "url", "&#39;ftp://x&#39; is not an http(s) URL"),
        ({"url": "https://svc:pw@dav.example.com/"}, "url", "A password may not be part of the URL: give it in"),
        ({"connection_type": "folder", "url": " cal "}, "url", "&#39;cal&#39; is not an absolute path: give the"),
        ({"connection_type": "graph"}, "auth_mode", "A graph connection allows auth mode oauth, not delegate"),
        ({"start_of_sync": "tomorrow"}, "start_of_sync", "Give a date and time with a time zone"),
        ({"start_of_sync": "2026-11-20T08:00"}, "start_of_sync", "Give the start of sync with a time zone"),
    ],
)
async def test_a_refused_field_is_named_next_to_it_and_the_rest_is_kept(
    admin: Admin, change: dict[str, str], field: str, message: str
) -> None:
    answer = await admin.post("/admin/integrations/new", CALDAV | change)
    assert answer.status_code == 422
    assert error_next_to(answer.text, field).startswith(message)
    assert f'<a href="#f-{field}">' in answer.text  # the summary at the top links to the field
    assert 'value="Technicians"' in answer.text  # what was typed is kept …
    assert DAV_PASSWORD not in answer.text  # … except the secret, which is never sent back


async def test_add_then_edit_keeps_a_secret_left_empty_and_replaces_a_typed_one(
    admin: Admin, settings: Settings
) -> None:
    added = await admin.post("/admin/integrations/new", CALDAV)
    assert added.status_code == 303
    assert added.headers["location"] == "/admin/integrations/acme?note=added"
    page = await admin.get(added.headers["location"])
    assert "The integration was added." in page.text
    assert 'Password <span class="secret-state">(set)</span>' in page.text
    assert 'Client secret <span class="secret-state">(not set)</span>' in page.text
    assert 'id="f-name" name="name" type="text" value="acme" readonly' in page.text
    saved = await admin.post("/admin/integrations/acme", CALDAV | {"password": "", "days_back": "3", "two_way": ""})
    assert saved.status_code == 303
    with open_integrations(settings) as service:
        view, secret = service.get("acme"), service.credentials("acme").password
    assert (view.days_back, view.two_way, view.department) == (3, False, "Field")
    assert secret is not None
    assert secret.reveal() == DAV_PASSWORD
    await admin.post("/admin/integrations/acme", CALDAV | {"password": "a new one"})
    with open_integrations(settings) as service:
        secret = service.credentials("acme").password
    assert secret is not None
    assert secret.reveal() == "a new one"


async def test_a_ca_bundle_is_saved_shown_again_refused_when_wrong_and_cleared(
    admin: Admin, settings: Settings, tmp_path: Path
) -> None:
    ca = tmp_path / "company-ca.pem"
    pem_file(ca)
    assert (await admin.post("/admin/integrations/new", CALDAV | {"ca_bundle": str(ca)})).status_code == 303
    page = await admin.get("/admin/integrations/acme")
    assert f'id="f-ca_bundle" name="ca_bundle" type="text" value="{ca}"' in page.text
    wrong = await admin.post("/admin/integrations/acme", CALDAV | {"ca_bundle": "company-ca.pem"})
    assert wrong.status_code == 422
    assert error_next_to(wrong.text, "ca_bundle").startswith("&#39;company-ca.pem&#39; is not an absolute path")
    assert (await admin.post("/admin/integrations/acme", CALDAV)).status_code == 303
    with open_integrations(settings) as service:
        assert service.get("acme").ca_bundle == ""


async def test_a_folder_path_is_saved_absolute_and_a_relative_one_refused_at_the_url(
    admin: Admin, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = CALDAV | {"connection_type": "folder", "url": "~/cal", "username": "", "password": ""}
    assert (await admin.post("/admin/integrations/new", folder)).status_code == 303
    page = await admin.get("/admin/integrations/acme")
    assert f'id="f-url" name="url" type="text" value="{tmp_path / "cal"}"' in page.text
    wrong = await admin.post("/admin/integrations/acme", folder | {"url": "./cal", "days_back": "3"})
    assert wrong.status_code == 422
    assert error_next_to(wrong.text, "url") == (
        "&#39;./cal&#39; is not an absolute path: give the folder&#39;s full path (a relative one would depend on "
        "the folder the service is started in)"
    )
    assert 'id="f-url" name="url" type="text" value="./cal"' in wrong.text  # what was typed is kept
    with open_integrations(settings) as service:
        assert (service.get("acme").url, service.get("acme").days_back) == (str(tmp_path / "cal"), 14)


async def test_a_taken_name_is_named_at_the_name(admin: Admin) -> None:
    await admin.post("/admin/integrations/new", CALDAV)
    again = await admin.post("/admin/integrations/new", CALDAV)
    assert again.status_code == 422
    assert "already exists" in error_next_to(again.text, "name")


async def test_the_list_shows_each_integration_with_its_status(admin: Admin) -> None:
    assert "No integrations yet." in (await admin.get("/admin/integrations")).text
    await admin.post("/admin/integrations/new", CALDAV)
    listed = await admin.get("/admin/integrations")
    assert '<a href="/admin/integrations/acme">acme</a>' in listed.text
    assert "ACME · Field" in listed.text
    assert "http://127.0.0.1:9/dav/svc/" in listed.text
    assert re.search(r'<span class="badge ok">online</span>|not scheduled yet', listed.text)
    assert "never" in listed.text  # no run yet


async def test_removal_is_asked_first_then_done(admin: Admin, settings: Settings) -> None:
    await admin.post("/admin/integrations/new", CALDAV)
    asked = await admin.get("/admin/integrations/acme/remove")
    assert "Remove the integration acme (ACME) and its 0 users?" in asked.text
    done = await admin.post("/admin/integrations/acme/remove")
    assert done.headers["location"] == "/admin/integrations?note=removed"
    with open_integrations(settings) as service:
        assert service.integrations() == []
    assert (await admin.get("/admin/integrations/acme")).status_code == 404
    assert (await admin.post("/admin/integrations/acme/remove")).status_code == 404


async def test_check_connection_says_what_failed_in_plain_words(admin: Admin) -> None:
    await admin.post("/admin/integrations/new", CALDAV)
    await admin.post("/admin/integrations/acme/users", {"business_user": "anna", "mailbox": "anna"})
    checked = await admin.post("/admin/integrations/acme/check", {"users": "yes"})
    assert checked.status_code == 200
    assert "Something cannot be reached" in checked.text
    server = re.search(
        r'<li class="bad"><span class="mark">Failed</span> <strong>Server:</strong> ([^<]+)</li>', checked.text
    )
    assert server is not None
    assert "127.0.0.1:9" in server.group(1)
    assert "<strong>anna:</strong> anna: not checked" in checked.text
    assert DAV_PASSWORD not in checked.text


async def test_no_stored_secret_appears_on_any_page(admin: Admin) -> None:
    """Every GET page of the admin UI, and the pages answering the forms, rendered with secrets stored."""
    await admin.post("/admin/integrations/new", CALDAV)
    await admin.post("/admin/integrations/new", GRAPH)
    await admin.post("/admin/integrations/contoso/users", {"business_user": "anna", "mailbox": "anna@contoso.com"})
    pages = [
        "/admin/integrations", "/admin/integrations/new", "/admin/integrations/acme", "/admin/integrations/contoso",
        "/admin/integrations/acme/users", "/admin/integrations/contoso/users", "/admin/integrations/acme/remove",
        "/admin/jobs", "/admin/jobs?integration=contoso", "/admin/sign-in",
    ]  # fmt: skip
    shown = [(await admin.get(path)).text for path in pages]
    shown.append((await admin.post("/admin/integrations/contoso", GRAPH | {"days_back": "99"})).text)
    shown.append((await admin.post("/admin/integrations/acme/check")).text)
    for text in shown:
        for secret in SECRETS:
            assert secret not in text


async def test_values_are_escaped_never_run(admin: Admin) -> None:
    script = "<script>alert(1)</script>"
    await admin.post("/admin/integrations/new", CALDAV | {"company": script, "description": f'"><img src=x>{script}'})
    for path in ("/admin/integrations", "/admin/integrations/acme"):
        page = await admin.get(path)
        assert script not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert '"><img' not in page.text


async def test_saving_an_unchanged_form_keeps_the_start_of_sync(admin: Admin, settings: Settings) -> None:
    start = "2026-11-10T08:30:15.250000+00:00"
    await admin.post("/admin/integrations/new", CALDAV | {"start_of_sync": start})
    with open_integrations(settings) as service:
        stored = service.get("acme").start_of_sync
    assert stored is not None
    form = await admin.get("/admin/integrations/acme")
    shown = re.search(r'id="f-start_of_sync" name="start_of_sync" type="text" value="([^"]+)"', form.text)
    assert shown is not None
    await admin.post("/admin/integrations/acme", CALDAV | {"password": "", "start_of_sync": shown.group(1)})
    with open_integrations(settings) as service:
        assert service.get("acme").start_of_sync == stored
