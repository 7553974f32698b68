"""The demo a newcomer starts with one command: a CalDAV server (Radicale) on loopback, started and stopped by
calsync itself, an integration with two technicians, sample business data and an admin account.

Everything lives in one folder (``demo/`` by default): the SQLite state, the secret key, Radicale's collections,
its users file and rights, and the demo's credentials (``credentials.json``, readable only by its owner), so a
second start finds what the first made and the technicians' calendars keep what was synced.

Why Radicale with a rights file: calsync reaches every user's calendar with one service account, as it does on
Exchange and Microsoft 365; Radicale's ``from_file`` rights give the account ``calsync`` that access while each
technician still signs in with their own password (so their phone or Thunderbird can show the calendar).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from calsync.config import Settings
from calsync.crypto import Secret
from calsync.errors import ConfigError, Unavailable
from calsync.model.item import Address, BusinessExtras, Item, ItemKind, Recurrence, Sensitivity
from calsync.services.accounts import open_accounts
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.integrations import IntegrationInput, IntegrationPatch, open_integrations

logger = logging.getLogger(__name__)

INTEGRATION = "demo"
TECHNICIANS = {"tech1": "anna", "tech2": "ben"}
"""Business user -> Radicale user (their principal) of the demo."""
SERVICE_ACCOUNT = "calsync"
ADMIN = "admin"
RIGHTS = """# Radicale rights for the calsync demo: the service account reaches every home; users their own.
[service-account]
user: calsync
collection: .*
permissions: RrWw

[root]
user: .+
collection:
permissions: R

[principal]
user: .+
collection: {user}
permissions: RW

[own-collections]
user: .+
collection: {user}/[^/]+
permissions: rw
"""


@dataclass(frozen=True, slots=True)
class DemoServer:
    """The running demo CalDAV server: its URL and every account's password."""

    url: str
    passwords: dict[str, str]


@dataclass(frozen=True, slots=True)
class DemoAccess:
    """What a newcomer needs to look around: the admin account and the business system's API token."""

    admin: str
    admin_password: Secret
    api_token: Secret
    credentials_file: Path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def demo_caldav_server(directory: Path, port: int = 0) -> Iterator[DemoServer]:
    """Radicale on ``127.0.0.1:port`` (a free one for 0) with the demo's accounts, stopped when the block ends.

    Raises ``Unavailable`` when Radicale is not installed or does not start within 30 seconds.
    """
    home = directory / "radicale"
    home.mkdir(parents=True, exist_ok=True)
    passwords = _passwords(home / "users")
    (home / "rights").write_text(RIGHTS, encoding="utf-8")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    args = [
        sys.executable,
        "-m",
        "radicale",
        "--server-hosts",
        f"127.0.0.1:{port}",
        "--storage-filesystem-folder",
        str(home / "collections"),
        "--auth-type",
        "htpasswd",
        "--auth-htpasswd-filename",
        str(home / "users"),
        "--auth-htpasswd-encryption",
        "plain",
        "--auth-delay",
        "0",
        "--rights-type",
        "from_file",
        "--rights-file",
        str(home / "rights"),
        "--logging-level",
        "warning",
    ]
    with (home / "radicale.log").open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(process, url, passwords)
        logger.info("demo CalDAV server (Radicale) at %s", url)
        yield DemoServer(url, passwords)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _passwords(users_file: Path) -> dict[str, str]:
    """The demo accounts' passwords: made on the first start, kept in Radicale's users file (owner-only)."""
    known: dict[str, str] = {}
    if users_file.exists():
        for line in users_file.read_text(encoding="utf-8").splitlines():
            name, _, password = line.partition(":")
            if name and password:
                known[name] = password
    wanted = [SERVICE_ACCOUNT, *TECHNICIANS.values()]
    if all(name in known for name in wanted):
        return known
    passwords = {name: known.get(name) or secrets.token_urlsafe(12) for name in wanted}
    _write_private(users_file, "".join(f"{n}:{p}\n" for n, p in passwords.items()))
    return passwords


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from its first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, passwords: dict[str, str]) -> None:
    """Wait for Radicale to answer, then sign each account in once (Radicale makes a user's home then)."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise Unavailable(
                f"the demo CalDAV server (Radicale) exited with status {process.returncode}; is it "
                "installed? (pip install 'calsync[demo]')"
            )
        try:
            for name, password in passwords.items():
                reply = httpx.request("PROPFIND", url, auth=(name, password), headers={"Depth": "0"}, timeout=2)
                reply.raise_for_status()
            return
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                raise Unavailable(f"the demo CalDAV server at {url} did not start: {exc}") from exc
            time.sleep(0.1)


def seed_demo(settings: Settings, server: DemoServer, directory: Path) -> DemoAccess:
    """The demo integration (pointed at this run's server), its technicians, sample business data, an admin
    account and an API token; what exists already is kept (a second start changes nothing else)."""
    if _integration(settings, server):  # a second start keeps the items as the first and the syncs left them
        with open_hub(settings) as hub:
            results = hub.put_items(INTEGRATION, sample_items(datetime.now(UTC)))
        failed = [r for r in results if r.status == "error"]
        if failed:
            raise ConfigError(f"the demo's sample item {failed[0].business_id} was refused: {failed[0].error}")
    return _access(settings, directory)


def _integration(settings: Settings, server: DemoServer) -> bool:
    """The demo integration pointed at this run's server; True when it was made now."""
    password = Secret(server.passwords[SERVICE_ACCOUNT])
    with open_integrations(settings) as service:
        made = INTEGRATION not in {view.name for view in service.integrations()}
        if not made:
            service.update(INTEGRATION, IntegrationPatch(url=server.url, password=password))
        else:
            service.add(
                IntegrationInput(
                    name=INTEGRATION,
                    company="Demo Field Service",
                    connection_type="caldav",
                    url=server.url,
                    username=SERVICE_ACCOUNT,
                    password=password,
                    description="Started by calsync demo",
                    interval_minutes=1,
                    full_sync_minutes=60,
                    appointment_activity="VISIT",
                    task_activity="TODO",
                )
            )
        users = {u.business_user for u in service.users(INTEGRATION)}
        for business_user, principal in TECHNICIANS.items():
            if business_user not in users:
                service.add_user(INTEGRATION, business_user, principal)
    return made


def _access(settings: Settings, directory: Path) -> DemoAccess:
    """The admin account and the API token: made once, their secrets kept in ``credentials.json``."""
    from calsync.services.access import open_access

    stored = directory / "credentials.json"
    if stored.exists():
        known = json.loads(stored.read_text(encoding="utf-8"))
        return DemoAccess(ADMIN, Secret(known["admin_password"]), Secret(known["api_token"]), stored)
    admin_password = secrets.token_urlsafe(12)
    with open_accounts(settings) as accounts:
        if ADMIN in {a.username for a in accounts.accounts()}:
            accounts.set_password(ADMIN, Secret(admin_password))
        else:
            accounts.add(ADMIN, Secret(admin_password))
    with open_access(settings) as access:
        token = access.tokens.create(INTEGRATION, f"demo-{int(time.time())}").plain
    _write_private(stored, json.dumps({"admin_password": admin_password, "api_token": token.reveal()}))
    return DemoAccess(ADMIN, Secret(admin_password), token, stored)


def sample_items(now: datetime) -> list[BusinessItem]:
    """The demo's business data: appointments, an order line, a weekly assignment, a private event, a task."""
    day = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
    address = Address("Hauptstraße 5", "Berlin", postal_code="10115", country="Germany", kind="ship-to")
    visit = Item(
        uid="",
        title="Boiler service at Müller GmbH",
        location="Hauptstraße 5, Berlin",
        start=day,
        end=day + timedelta(hours=2),
        extras=BusinessExtras(customer_address=address, activity_type="SV", equipment=("Flue gas analyser",)),
    )
    return [
        BusinessItem("D-1001", "tech1", visit),
        BusinessItem(
            "D-1002",
            "tech2",
            replace(
                visit,
                title="Heat pump inspection at Schmidt KG",
                start=day + timedelta(hours=3),
                end=day + timedelta(hours=4),
            ),
        ),
        BusinessItem(
            "D-2001",
            "tech1",
            replace(
                visit,
                kind=ItemKind.ORDER_LINE,
                title="Order 4711 line 1: pump swap",
                start=day + timedelta(days=1),
                end=day + timedelta(days=1, hours=3),
            ),
        ),
        BusinessItem(
            "D-3001",
            "tech2",
            replace(
                visit,
                kind=ItemKind.ASSIGNMENT,
                title="Weekly maintenance round",
                start=day + timedelta(hours=1),
                end=day + timedelta(hours=2),
                recurrence=Recurrence("FREQ=WEEKLY;COUNT=8"),
            ),
        ),
        BusinessItem(
            "D-4001",
            "tech1",
            Item(
                uid="",
                title="Doctor's appointment",
                start=day + timedelta(hours=6),
                end=day + timedelta(hours=7),
                sensitivity=Sensitivity.PRIVATE,
            ),
        ),
    ]
