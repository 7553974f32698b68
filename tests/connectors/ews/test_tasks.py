"""Exchange tasks as a connector: the shared contract with VTODOs in place of VEVENTs, plus what a task holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from calsync.connectors.base import Connector, Fetched
from calsync.connectors.ews.connector import EwsConnector
from calsync.model.content import Content
from calsync.model.item import TaskStatus
from tests.connectors import contract
from tests.connectors.contract import ConnectorContract
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import task

DONE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
    "DTSTAMP:20261101T080000Z\r\nDTSTART;VALUE=DATE:20261120\r\nDUE;VALUE=DATE:20261124\r\nSUMMARY:Order parts\r\n"
    "STATUS:COMPLETED\r\nCOMPLETED:20261122T101500Z\r\nPRIORITY:1\r\nCATEGORIES:Service\r\n"
    "DESCRIPTION:Two valves\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
)


def _as_task(uid: str, title: str = "Visit", *, day: str = "20261123", **_: object) -> str:
    """The contract's ``event(uid, title, day=...)`` as a VTODO due that day."""
    return task(uid, title, due=day)


class TestEwsTasksContract(ConnectorContract):
    """The shared contract, its samples swapped for tasks in this class only (the contract itself is unchanged)."""

    refuses_second_identity = False  # Exchange keeps any number of items of one identity, and a create finds a
    # retried copy by calsync's key property alone: an item made in Outlook has none

    @pytest.fixture(autouse=True)
    def _fake(
        self, fake: FakeEws, connect: Callable[..., EwsConnector], monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[None]:
        monkeypatch.setattr(contract, "event", _as_task)
        self.fake = fake
        self.connect = connect
        self.collection = new_mailbox(fake)
        yield

    def make(self, *, read_only: bool = False) -> Connector:
        return self.connect(read_only=read_only, mailboxes=[self.collection]).tasks()

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        outlook.put(self.fake, self.collection, href, text, folder="tasks")

    def remove_external(self, connector: Connector, href: str) -> None:
        outlook.remove(self.fake, self.collection, href)


def test_what_exchange_holds_for_a_completed_task(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    tasks = connect(mailboxes=[mailbox]).tasks()
    content = Content.from_text(DONE.format(uid="t-done"))
    ref = tasks.create(mailbox, content, "t-done")
    stored = fake.store.items[ref.href]
    assert stored.folder == "tasks"
    assert (stored.value("Status"), stored.value("PercentComplete"), stored.value("Importance")) == (
        "Completed",
        "100",
        "High",
    )
    (got,) = tasks.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest
    outlook.put(
        fake, mailbox, ref.href, DONE.format(uid="t-done").replace("COMPLETED\r\n", "IN-PROCESS\r\n"), folder="tasks"
    )
    (edited,) = tasks.get(mailbox, [ref.href])
    assert isinstance(edited, Fetched)
    item = edited.content.item
    assert item.task is not None and item.task.status is TaskStatus.IN_PROCESS and item.title == "Order parts"
    assert item.uid == "t-done"


def test_a_task_whose_key_holds_a_comma_keeps_it_as_its_identity_when_edited_in_outlook(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    """A task has no UID of its own: it is read under its key, an identity already; the item built from it must
    get the UID that identity spells, or the comma is escaped a second time once Outlook edits the task."""
    mailbox = new_mailbox(fake)
    tasks = connect(mailboxes=[mailbox]).tasks()
    content = Content.from_text(task("t\\,1", "Order parts"))
    ref = tasks.create(mailbox, content, content.ident)
    outlook.put(fake, mailbox, ref.href, task("ignored", "Order parts, two valves"), folder="tasks")
    (got,) = tasks.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.ident == "t\\,1" and got.content.facts.title == "Order parts, two valves"
