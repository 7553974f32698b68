"""One fake EWS server per test session (TLS with a test CA), and connectors built against it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from calsync.connectors.ews.connector import EwsConnector
from calsync.connectors.ews.settings import Access, EwsSettings, Patience
from tests.connectors.ews.fake.server import FakeEws
from tests.connectors.graph.fake.tls import make_pki

SERVICE = "svc-calsync@contoso.com"
PASSWORD = "fake-password-0123456789"
_mailboxes = itertools.count(1)


@pytest.fixture(scope="session")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeEws]:
    pki = make_pki(Path(tmp_path_factory.mktemp("ews-pki")))
    server = FakeEws(pki).start()
    server.add_account(SERVICE, PASSWORD, SERVICE)
    server.impersonators.add(SERVICE)
    yield server
    server.stop()


def new_mailbox(fake: FakeEws, *, delegate: bool = True) -> str:
    """A fresh, empty mailbox the service account may impersonate and (``delegate``) open as a delegate."""
    address = f"user{next(_mailboxes)}@contoso.com"
    fake.add_mailbox(address, delegates=(SERVICE,) if delegate else ())
    return address


def settings_for(fake: FakeEws, **options: object) -> EwsSettings:
    values: dict[str, object] = {
        "username": SERVICE,
        "password": PASSWORD,
        "url": fake.ews_url,
        "version": "15.1.2507.6",
        "ca_bundle": fake.pki.ca_file,
        "access": Access.IMPERSONATION,
        "timezone": "Europe/Berlin",
        "patience": Patience(attempts=4, max_wait=5.0, timeout=2.0, sleep=lambda seconds: None),
    }
    values.update(options)
    return EwsSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def connect(fake: FakeEws) -> Callable[..., EwsConnector]:
    """Build connectors against the fake: ``connect(mailboxes=[…], read_only=…, access=…, …settings)``."""

    def build(
        *, mailboxes: tuple[str, ...] | list[str] = (), read_only: bool = False, **options: object
    ) -> EwsConnector:
        return EwsConnector("ews", settings=settings_for(fake, **options), mailboxes=mailboxes, read_only=read_only)

    return build
