"""The admin UI in a real browser: Debian's Chromium, headless, driven by Playwright, against the app under uvicorn.

The app runs in a thread on a free loopback port with its scheduler beside it (as ``calsync serve`` runs them),
on a SQLite state; the integration points at a real Radicale whose rights let the service account ``alice`` reach
``bob``'s calendars. One scenario walks what an admin does, then the refusals. Screenshots of the main pages are
written to ``tests/artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from calsync.config import Settings
from calsync.model.item import Item, ItemKind
from calsync.scheduler.service import SchedulerConfig
from calsync.scheduler.worker import SchedulerProcess, WorkerOptions
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.jobs import WAKE_EXTRA
from calsync.web.app import create_app
from tests.connectors.dav.servers import PASSWORD as DAV_PASSWORD
from tests.connectors.dav.servers import USER, Server, _running, free_port
from tests.web.admin.conftest import PASSWORD, USERNAME
from tests.web.admin.hub_setup import FolderHub, held_for_anna

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
BOB_PASSWORD = "bob-builder-never-shown"
RIGHTS = """
[calsync]
user: alice
collection: .*
permissions: RrWw

[principal]
user: .+
collection: {user}
permissions: RW

[calendars]
user: .+
collection: {user}/[^/]+
permissions: rw
"""


@pytest.fixture(scope="module")
def radicale_with_rights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Radicale with users alice (the service account, allowed into every home) and bob."""
    root = tmp_path_factory.mktemp("radicale")
    (root / "users").write_text(f"{USER}:{DAV_PASSWORD}\nbob:{BOB_PASSWORD}\n", encoding="utf-8")
    (root / "rights").write_text(RIGHTS, encoding="utf-8")
    port = free_port()
    args = [
        "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}", "--storage-filesystem-folder", str(root / "data"),
        "--storage-type", "multifilesystem_nolock", "--auth-type", "htpasswd", "--auth-htpasswd-filename",
        str(root / "users"), "--auth-htpasswd-encryption", "plain", "--auth-delay", "0", "--rights-type",
        "from_file", "--rights-file", str(root / "rights"), "--logging-level", "error",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    import sys

    with _running([sys.executable, *args], url, httpx.BasicAuth(USER, DAV_PASSWORD), True):
        # bob signs in once, as a person would, so his principal exists
        httpx.request("PROPFIND", f"{url}bob/", auth=("bob", BOB_PASSWORD), headers={"Depth": "0"}).raise_for_status()
        yield Server("radicale", url, f"{url}{USER}/", f"{url}{USER}/", root, USER, DAV_PASSWORD)


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    """The app with its scheduler, under uvicorn on a free loopback port; yields the base URL."""
    app = create_app(settings)
    scheduler = SchedulerProcess(
        settings,
        WorkerOptions(workers=2, grace_seconds=10, scheduler=SchedulerConfig(tick_seconds=1, lease_seconds=10)),
    )
    scheduler.start()
    app.state.context.extras[WAKE_EXTRA] = scheduler.wake
    try:
        with serving(app) as base:
            yield base
    finally:
        scheduler.stop()


@pytest.fixture
def served_alone(settings: Settings) -> Iterator[str]:
    """The app without a scheduler, so only what the test does runs a sync; yields the base URL."""
    with serving(create_app(settings)) as base:
        yield base


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def push_items(settings: Settings) -> None:
    """What the business system would push: one appointment for each technician, tomorrow."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    items = [
        BusinessItem(f"order-{user}", user, Item(uid="", kind=ItemKind.EVENT, title=f"Visit for {user}", start=start,
                                                 end=start + timedelta(hours=1)))
        for user in ("alice", "bob")
    ]  # fmt: skip
    with open_hub(settings) as hub:
        assert [r.status for r in hub.put_items("acme", items)] == ["created", "created"]


def sign_in_by_keyboard(page: Page, base: str, password: str) -> None:
    page.goto(f"{base}/admin/integrations")
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next=/admin/integrations$"))
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()  # the skip link comes first …
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name")).to_be_focused()  # … and leads to the form
    page.keyboard.type(USERNAME)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")


def add_integration(page: Page, server: Server) -> None:
    page.get_by_role("link", name="Add an integration").click()
    page.get_by_label("Name", exact=True).fill("acme")
    page.get_by_label("Company").fill("ACME Heating")
    page.get_by_label("Server type").select_option("caldav")
    page.get_by_label("Server URL").fill(server.url)
    page.get_by_label("Service account").fill(server.username)
    page.get_by_label("Password").fill(server.password)
    page.get_by_label("Days forward").fill("90")
    page.get_by_role("button", name="Add integration").click()
    expect(page.locator("#e-days_forward")).to_have_text("Must be between 0 and 60, not 90")
    expect(page.get_by_label("Days forward")).to_have_attribute("aria-invalid", "true")
    shot(page, "03-integration-form-invalid")
    page.get_by_label("Days forward").fill("30")
    page.get_by_label("Password").fill(server.password)  # a refused form never sends a secret back
    page.get_by_role("button", name="Add integration").click()
    expect(page.get_by_role("status")).to_have_text("The integration was added.")
    expect(page.locator("label[for=f-password]")).to_contain_text("(set)")


def test_an_admin_sets_up_an_integration_and_syncs_it(
    browser: Browser, served: str, settings: Settings, radicale_with_rights: Server
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_by_keyboard(page, served, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Integrations")
    add_integration(page, radicale_with_rights)
    page.get_by_role("button", name="Check connection").click()
    expect(page.locator(".report li").first).to_contain_text(f"Connected to Radicale at {radicale_with_rights.url}")
    shot(page, "04-check-connection")

    page.get_by_role("link", name="Users of acme").click()
    for user in ("alice", "bob"):
        page.get_by_label("Business user").fill(user)
        page.get_by_label("Mailbox or principal").fill(user)
        page.get_by_role("button", name="Add user").click()
        expect(page.get_by_role("status")).to_have_text("The user was added with every option on.")
    page.get_by_label("Contacts for bob").uncheck()
    page.get_by_role("button", name="Save bob").click()
    expect(page.get_by_label("Contacts for bob")).not_to_be_checked()
    page.get_by_role("button", name="Check users").click()
    expect(page.locator(".report li.ok")).to_have_count(3)
    page.go_back()
    shot(page, "05-users")

    push_items(settings)
    page.goto(f"{served}/admin/jobs")
    earlier = _job_ids(page)  # a scheduled turn may have run already, before the items were there
    page.goto(f"{served}/admin/integrations")
    page.get_by_role("button", name="Sync acme now").click()
    expect(page.get_by_role("status")).to_contain_text("A sync was asked for")
    rows = page.locator("tbody tr", has_text="acme/bob/events").filter(has_text="Completed")
    deadline = time.monotonic() + 20
    while not (asked := [r for r in rows.all() if _job_id(r) not in earlier]):
        assert time.monotonic() < deadline, "the run asked for did not complete"
        time.sleep(0.3)
        page.reload()
    completed = asked[0]
    shot(page, "06-scheduling")
    completed.get_by_role("link").click()
    counts = page.locator("table.counts tr", has_text="Calendar")
    expect(counts.locator("td").first).to_have_text("1")  # created in bob's calendar
    expect(page.locator("tbody tr", has_text="Visit for bob")).to_contain_text("new on A")
    shot(page, "07-job-details")

    page.goto(f"{served}/admin/integrations")
    expect(page.locator("tbody tr", has_text="acme")).to_contain_text("online")
    shot(page, "02-integrations")
    forged = context.request.post(f"{served}/admin/integrations/new", form={"name": "forged", "company": "X"})
    assert forged.status == 403  # the browser's session cookie alone is not enough
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{served}/admin/integrations")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    context.close()


def test_an_admin_rejects_held_deletions_restores_from_the_journal_and_sets_rules(
    browser: Browser, served_alone: str, settings: Settings, tmp_path: Path
) -> None:
    world = FolderHub(settings, tmp_path / "calendars")
    held_for_anna(world)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_by_keyboard(page, served_alone, PASSWORD)
    page.get_by_role("link", name="acme").click()
    page.get_by_role("link", name="Held deletions of acme").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("anna: 6 deletions held")
    shot(page, "08-held")
    page.get_by_role("button", name="Reject the deletions held for anna").click()
    expect(page.get_by_role("status")).to_contain_text("the held items were created again")
    assert len(world.files("anna")) == 6

    page.get_by_role("link", name="Journal of acme").click()
    page.get_by_label("Business id").fill("Visit0")
    page.get_by_role("button", name="Show").click()
    page.locator("details summary").first.click()
    expect(page.locator("details pre").first).to_contain_text("SUMMARY:Visit 0")
    shot(page, "09-journal")

    page.get_by_role("link", name="Item rules of acme").click()
    page.get_by_label("Category of an activity type").fill("{code} {description}")
    page.get_by_label("Code of line 1").fill("SV")
    page.get_by_label("Description of line 1").fill("Service")
    page.get_by_label("Colour of line 1").fill("#1e90ff")
    page.get_by_label("none (line 1)").uncheck()
    page.get_by_label("Import only items ending within (days)").fill("-1")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#e-selection-within_days")).to_have_text("Must be 0 (off) or more")
    page.get_by_label("Import only items ending within (days)").fill("14")
    page.get_by_role("button", name="Save rules").click()
    expect(page.get_by_role("status")).to_have_text("The changes were saved.")
    expect(page.get_by_label("Colour of line 1")).to_have_value("#1e90ff")
    shot(page, "10-rules")
    with open_hub(settings) as hub:
        rules = hub.rules("acme")
    assert (rules.mapping.activity_types[0].colour, rules.selection.within_days) == ("#1e90ff", 14)
    context.close()


def test_a_wrong_password_then_lock_out(browser: Browser, served: str) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in_by_keyboard(page, served, "a wrong guess")
    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    shot(page, "01-sign-in-wrong-password")
    for _ in range(4):
        page.get_by_label("Password").fill("another wrong guess")
        page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins under this name")
    context.close()


def _job_id(row: Locator) -> str:
    """The job number a row of the jobs table links to (``#12``)."""
    return row.get_by_role("link", name=re.compile(r"^#\d+$")).inner_text()


def _job_ids(page: Page) -> set[str]:
    """The job numbers the jobs page lists now."""
    links = page.locator("tbody tr").get_by_role("link", name=re.compile(r"^#\d+$"))
    return {link.inner_text() for link in links.all()}
