"""Microsoft To Do as a connector: the shared contract with VTODOs in place of VEVENTs, plus To Do's own fields."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest

from calsync.connectors.base import Connector, Fetched
from calsync.connectors.graph import todo
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.tasks import GraphTasksConnector
from calsync.model.content import Content
from calsync.model.item import Body, Item, ItemKind, Reminder, TaskInfo, TaskStatus
from tests.connectors import contract
from tests.connectors.contract import ConnectorContract
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake import todo as fake_todo
from tests.connectors.graph.fake.server import FakeGraph, Fault
from tests.samples import task

Connect = Callable[..., GraphConnector]


def _as_task(uid: str, title: str = "Visit", *, day: str = "20261123", **_: object) -> str:
    """The contract's ``event(uid, title, day=...)`` as a VTODO due that day."""
    return task(uid, title, due=day)


def _default_list(fake: FakeGraph, mailbox: str) -> str:
    return next(iter(fake_todo.lists(fake.mailboxes[mailbox.lower()])))


class TestGraphTasksContract(ConnectorContract):
    """The shared contract, its samples swapped for tasks in this class only (the contract itself is unchanged)."""

    refuses_second_identity = False  # Graph keeps any number of items of one identity, and a create finds a
    # retried copy by calsync's key property alone: an item made in Outlook has none

    @pytest.fixture(autouse=True)
    def _fake(self, fake: FakeGraph, connect: Connect, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setattr(contract, "event", _as_task)
        self.fake = fake
        self.connect = connect
        self.collection = new_mailbox(fake)
        yield

    def make(self, *, read_only: bool = False) -> Connector:
        return self.connect(read_only=read_only, mailboxes=[self.collection]).tasks()

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        body = todo.to_todo(Content.from_text(text).item)
        with self.fake.lock:
            box = self.fake.mailboxes[self.collection]
            fake_todo.put(box, _default_list(self.fake, self.collection), href, body)

    def remove_external(self, connector: Connector, href: str) -> None:
        with self.fake.lock:
            fake_todo.lists(self.fake.mailboxes[self.collection])[_default_list(self.fake, self.collection)].tasks.pop(
                href, None
            )


def _full_task() -> Item:
    return Item(
        uid="job-7",
        kind=ItemKind.TASK,
        title="Order spare parts",
        body=Body(text="Pump seal, 2x"),
        priority=1,
        categories=("Repair",),
        reminders=(Reminder(60),),
        task=TaskInfo(TaskStatus.COMPLETED, due=date(2026, 11, 30), completed=datetime(2026, 11, 28, 15, tzinfo=UTC)),
    )


def test_to_do_fields_round_trip_and_the_key_is_a_linked_resource(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    tasks: GraphTasksConnector = connect(mailboxes=[mailbox]).tasks()
    content = Content.from_item(_full_task())
    ref = tasks.create(mailbox, content, "job-7")
    stored, _change = fake_todo.lists(fake.mailboxes[mailbox])[_default_list(fake, mailbox)].tasks[ref.href]
    assert stored["linkedResources"][0]["applicationName"] == "calsync"
    assert stored["linkedResources"][0]["externalId"] == "job-7"
    assert (stored["status"], stored["importance"], stored["categories"]) == ("completed", "high", ["Repair"])
    assert stored["dueDateTime"] == {"dateTime": "2026-11-30T00:00:00.0000000", "timeZone": "UTC"}
    assert stored["reminderDateTime"]["dateTime"] == "2026-11-29T23:00:00.0000000" and stored["isReminderOn"]
    (got,) = tasks.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest
    assert got.content.item.task == _full_task().task


def test_statuses_and_importance_map_both_ways() -> None:
    for status, graph in [(TaskStatus.IN_PROCESS, "inProgress"), (TaskStatus.CANCELLED, "deferred")]:
        item = Item(uid="s", kind=ItemKind.TASK, priority=9, task=TaskInfo(status))
        body = todo.to_todo(item)
        assert (body["status"], body["importance"]) == (graph, "low")
        back = todo.from_todo({**body, "id": "x"}, "s")
        assert back.task is not None and back.task.status is status and back.priority == 9
    waiting = todo.from_todo(
        {"id": "x", "status": "waitingOnOthers", "body": {"content": "<b>x</b>", "contentType": "html"}}, "w"
    )
    assert waiting.task is not None and waiting.task.status is TaskStatus.IN_PROCESS
    assert waiting.body == Body(html="<b>x</b>")


def test_an_expired_delta_link_starts_again(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    tasks = connect(mailboxes=[mailbox]).tasks()
    ref = tasks.create(mailbox, Content.from_text(task("e1")), "e1")
    token = tasks.changes(mailbox, None).token
    fake.inject(Fault(410, path="$deltatoken"))
    again = tasks.changes(mailbox, token)
    assert again.complete and ref in again.changed


def test_a_second_list_is_its_own_collection(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    box = fake.mailboxes[mailbox]
    fake_todo.lists(box)["extra-list"] = fake_todo.TodoList({"id": "extra-list", "displayName": "Jobs"})
    tasks = connect(mailboxes=[mailbox]).tasks()
    found = {(c.id, c.display_name, c.components) for c in tasks.discover()}
    vtodo = frozenset({"VTODO"})
    assert found == {(mailbox, "Tasks", vtodo), (f"{mailbox}/extra-list", "Jobs", vtodo)}
    ref = tasks.create(f"{mailbox}/extra-list", Content.from_text(task("j1")), "j1")
    assert ref.href in box.todo["extra-list"].tasks and tasks.list(mailbox, None) == []


def test_a_task_whose_key_holds_a_comma_is_read_under_that_key(fake: FakeGraph, connect: Connect) -> None:
    """The key is an identity, its comma escaped: the task read from it must get the UID that identity spells,
    or the writer escapes the comma a second time and the task comes back under another identity."""
    mailbox = new_mailbox(fake)
    tasks = connect(mailboxes=[mailbox]).tasks()
    content = Content.from_text(task("t\\,1", "Order parts"))
    ref = tasks.create(mailbox, content, content.ident)
    (got,) = tasks.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.ident == "t\\,1" and got.content.item.uid == "t,1"
