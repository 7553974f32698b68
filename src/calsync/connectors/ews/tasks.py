"""Exchange tasks (the Tasks folder) as VTODOs: ``Item`` with ``TaskInfo`` <-> exchangelib ``Task`` fields.

What an Exchange task holds of a VTODO: title, body (text or HTML), start and due *dates*, status (NotStarted,
InProgress, Completed, WaitingOnOthers, Deferred), percent complete, importance, sensitivity, categories. Exchange
sets the completion time itself (CompleteDate is read-only), so it is not read back: the business side's
COMPLETED time travels in the residue with everything else a task cannot hold. Percent complete follows
Exchange's rule (0 when not started, 100 when completed) before it is written, so what is written is what is
read back.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/task
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from exchangelib import EWSDate, Task
from exchangelib.properties import Body as EwsBody
from exchangelib.properties import HTMLBody

from calsync.connectors.ews.folders import FolderConnector, Kind
from calsync.model.item import Body, Item, ItemKind, Moment, Sensitivity, TaskInfo, TaskStatus

_TO_STATUS = {
    TaskStatus.NEEDS_ACTION: "NotStarted",
    TaskStatus.IN_PROCESS: "InProgress",
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.CANCELLED: "Deferred",
}
_FROM_STATUS = {
    "NotStarted": TaskStatus.NEEDS_ACTION,
    "InProgress": TaskStatus.IN_PROCESS,
    "WaitingOnOthers": TaskStatus.IN_PROCESS,
    "Completed": TaskStatus.COMPLETED,
    "Deferred": TaskStatus.CANCELLED,
}
_SENSITIVITY = {"Normal": Sensitivity.PUBLIC, "Personal": Sensitivity.PRIVATE, "Private": Sensitivity.PRIVATE}


def to_fields(item: Item) -> dict[str, Any]:
    """The Task fields calsync writes for a VTODO item (all of them, so an update leaves nothing old)."""
    info = item.task or TaskInfo()
    status = _TO_STATUS[info.status]
    percent = {"Completed": 100, "NotStarted": 0}.get(status, max(0, min(100, info.percent_complete)))
    start, due = _day(item.start), _day(info.due)
    if start is not None and due is not None and due < start:
        due = start
    return {
        "subject": item.title,
        "body": HTMLBody(item.body.html) if item.body.html else EwsBody(item.body.text),
        "start_date": start,
        "due_date": due,
        "status": status,
        "percent_complete": Decimal(percent),
        "importance": "High" if 1 <= item.priority <= 4 else ("Low" if item.priority >= 6 else "Normal"),
        "sensitivity": "Normal" if item.sensitivity is Sensitivity.PUBLIC else item.sensitivity.value.capitalize(),
        "categories": list(item.categories) or None,
    }


def _day(moment: Moment | None) -> EWSDate | None:
    if moment is None:
        return None
    day = moment.date() if isinstance(moment, datetime) else moment
    return EWSDate(day.year, day.month, day.day)


def from_exchange(task: Any, uid: str) -> Item:
    """The VTODO item an exchangelib ``Task`` holds."""
    body = task.body
    html = isinstance(body, HTMLBody)
    info = TaskInfo(
        status=_FROM_STATUS.get(task.status or "NotStarted", TaskStatus.NEEDS_ACTION),
        due=_plain(task.due_date),
        percent_complete=int(task.percent_complete or 0),
    )
    return Item(
        uid=uid,
        kind=ItemKind.TASK,
        title=task.subject or "",
        body=Body(html=str(body or "")) if html else Body(text=str(body or "")),
        start=_plain(task.start_date),
        sensitivity=_SENSITIVITY.get(task.sensitivity or "Normal", Sensitivity.CONFIDENTIAL),
        priority={"High": 1, "Low": 9}.get(task.importance or "Normal", 0),
        categories=tuple(task.categories or ()),
        task=info,
    )


def _plain(value: Any) -> date | None:
    if value is None:
        return None
    return date(value.year, value.month, value.day)


def project(item: Item, fields: dict[str, Any], key: str) -> Item:
    """The task as Exchange will give it back after writing ``fields``."""
    projected = from_exchange(SimpleNamespace(**fields), key)
    return replace(projected, kind=item.kind if item.kind is not ItemKind.EVENT else ItemKind.TASK)


TASKS = Kind(
    folder="tasks",
    item_class=Task,
    components=frozenset({"VTODO"}),
    to_fields=to_fields,
    from_exchange=from_exchange,
    project=project,
)


class EwsTasksConnector(FolderConnector):
    """The Tasks folder of each mapped mailbox; built by ``EwsConnector.tasks()`` on the same session."""

    kind = TASKS
