"""The core's property invariants with B an Exchange mailbox on the fake, with throttling, outages, timeouts (the
write done, the answer lost) and forgotten sync states injected between and during syncs.

It reuses the hypothesis state machine of ``tests/sync/test_properties.py``: A is a memory store, B is the EWS
connector (by impersonation); the user's edits on B are played on the fake's mailbox as an Outlook user would
make them (an item the user creates carries its UID as calsync's key, standing for an item another
calsync-aware writer made).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from calsync.connectors.ews.connector import EwsConnector
from calsync.connectors.ews.settings import Patience
from calsync.errors import CalsyncError
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox, settings_for
from tests.connectors.ews.fake.server import FakeEws, Fault
from tests.connectors.ews.fake.soap import t
from tests.samples import event
from tests.sync import test_properties as core

_pairs = itertools.count()
_world: dict[str, object] = {}
_WRITES = ("CreateItem", "UpdateItem", "DeleteItem")


class EwsSide:
    """What the machine needs of side B, read from the fake mailbox: texts by href, user edits, write counts."""

    def __init__(self, fake: FakeEws, mailbox: str) -> None:
        self.fake = fake
        self.mailbox = mailbox

    def texts(self, collection: str) -> dict[str, str]:
        with self.fake.lock:
            found = {}
            for stored in self.fake.store.live(self.mailbox, "calendar"):
                ident = stored.value("UID")
                for prop in stored.element.findall(t("ExtendedProperty")):
                    if prop.find(t("ExtendedFieldURI")).get("PropertyName") == "calsync-key":  # type: ignore[union-attr]
                        ident = prop.findtext(t("Value")) or ident
                found[stored.id] = event(ident, stored.value("Subject"))
            return found

    def put_raw(self, collection: str, href: str, text: str) -> None:
        outlook.put(self.fake, self.mailbox, href, text, key=True)

    def remove_raw(self, collection: str, href: str) -> None:
        outlook.remove(self.fake, self.mailbox, href)

    @property
    def writes(self) -> int:
        with self.fake.lock:
            return sum(
                1
                for s in self.fake.seen
                if s.operation in _WRITES and s.impersonated == self.mailbox and s.status < 300
            )


class EwsMachine(core.SyncMachine):
    """The two-way machine with B on Exchange."""

    def __init__(self) -> None:
        super().__init__()
        fake = _world["fake"]
        conn = _world["conn"]
        assert isinstance(fake, FakeEws) and isinstance(conn, EwsConnector)
        self.fake = fake
        mailbox = new_mailbox(fake)
        self.sync_b_on(EwsSide(fake, mailbox), conn, mailbox, "ews")

    def teardown(self) -> None:
        self.fake.faults.clear()
        super().teardown()

    @rule(
        fault=st.sampled_from(["busy", "503", "429", "state", "timeout"]),
        operation=st.sampled_from(["SyncFolderItems", "GetItem", "FindItem", "CreateItem", "UpdateItem", "DeleteItem"]),
        times=st.integers(min_value=1, max_value=6),
    )
    def sync_with_exchange_faults(self, fault: str, operation: str, times: int) -> None:
        if fault == "state":
            injected = Fault(code="ErrorInvalidSyncStateData", operation="SyncFolderItems", times=1)
        elif fault == "timeout":  # the server does the work, the answer comes after the client gave up
            injected = Fault(operation=operation, times=1, delay=0.6)
        elif fault == "busy":
            injected = Fault(code="ErrorServerBusy", operation=operation, times=times, back_off_ms=5)
        else:
            injected = Fault(status=int(fault), operation=operation, times=times, retry_after=0)
        self.fake.inject(injected)
        try:
            self._sync()
        except CalsyncError:
            pass  # a side that stays unreachable stops the pair; the invariants hold at the next clean sync
        finally:
            self.fake.faults.clear()


@pytest.fixture(autouse=True)
def _world_for_machine(fake: FakeEws, tmp_path: Path) -> Iterator[None]:
    core._store_path[:] = [tmp_path / "state.db"]
    patience = Patience(attempts=3, max_wait=1.0, timeout=0.4, sleep=lambda seconds: None)
    conn = EwsConnector("ews", settings=settings_for(fake, patience=patience))
    _world.update(fake=fake, conn=conn)
    yield


TestEwsTwoWay = EwsMachine.TestCase
TestEwsTwoWay.settings = settings(
    max_examples=int(os.environ.get("CALSYNC_EWS_PROPERTY_EXAMPLES", "10")),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
