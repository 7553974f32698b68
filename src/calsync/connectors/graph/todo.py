"""Microsoft To Do for business tasks: one builder per operation, and Item (with ``TaskInfo``) <-> todoTask.

The business key travels in a linkedResource (``applicationName`` "calsync", ``externalId`` the key). Why:
todoTask has no filterable single-value extended properties in v1.0; a linkedResource is To Do's documented way
to tie a task to "an item in a partner application", can be created in the same POST as the task, and shows the
user a link back to the business system. It cannot be filtered on, so a create looks the key up in a listing of
the list's tasks (``$expand=linkedResources``): one paged read per create, fine for task lists of hundreds.

What To Do can hold: title, one body (text or html), a due *date*, status (five values), importance (three),
completion time, categories, one reminder (an absolute time, read back relative to the due date), and nothing
else; the rest of a VTODO is dropped (no residue store yet, unlike events).
https://learn.microsoft.com/en-us/graph/api/resources/todotask
https://learn.microsoft.com/en-us/graph/api/resources/linkedresource
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote

from calsync.connectors.graph.availability import instant
from calsync.connectors.graph.transport import Call, Json
from calsync.model.item import Body, Item, ItemKind, Reminder, TaskInfo, TaskStatus

APPLICATION = "calsync"
PAGE = {"Prefer": "odata.maxpagesize=100"}
_TO_STATUS = {
    TaskStatus.NEEDS_ACTION: "notStarted",
    TaskStatus.IN_PROCESS: "inProgress",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.CANCELLED: "deferred",
}
_FROM_STATUS = {
    "notStarted": TaskStatus.NEEDS_ACTION,
    "inProgress": TaskStatus.IN_PROCESS,
    "waitingOnOthers": TaskStatus.IN_PROCESS,
    "completed": TaskStatus.COMPLETED,
    "deferred": TaskStatus.CANCELLED,
}


def _lists(mailbox: str) -> str:
    return f"/users/{quote(mailbox)}/todo/lists"


def _task(mailbox: str, list_id: str, task_id: str) -> str:
    return f"{_lists(mailbox)}/{quote(list_id, safe='')}/tasks/{quote(task_id, safe='')}"


def list_lists(mailbox: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/todo-list-lists"""
    return Call("GET", _lists(mailbox), headers=PAGE)


def list_tasks(mailbox: str, list_id: str) -> Call:
    """Every task with its links, to find a key. https://learn.microsoft.com/en-us/graph/api/todotasklist-list-tasks"""
    return Call("GET", f"{_lists(mailbox)}/{quote(list_id, safe='')}/tasks?$expand=linkedResources", headers=PAGE)


def tasks_delta(mailbox: str, list_id: str) -> Call:
    """The first round of a delta. https://learn.microsoft.com/en-us/graph/api/todotask-delta"""
    return Call("GET", f"{_lists(mailbox)}/{quote(list_id, safe='')}/tasks/delta", headers=PAGE)


def get_task(mailbox: str, list_id: str, task_id: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/todotask-get"""
    return Call("GET", f"{_task(mailbox, list_id, task_id)}?$expand=linkedResources")


def create_task(mailbox: str, list_id: str, body: Json) -> Call:
    """With its linkedResource in the same POST. https://learn.microsoft.com/en-us/graph/api/todotasklist-post-tasks"""
    return Call("POST", f"{_lists(mailbox)}/{quote(list_id, safe='')}/tasks", body)


def update_task(mailbox: str, list_id: str, task_id: str, body: Json, etag: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/todotask-update (If-Match: the etag last seen)"""
    return Call("PATCH", _task(mailbox, list_id, task_id), body, {"If-Match": etag})


def delete_task(mailbox: str, list_id: str, task_id: str, etag: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/todotask-delete (If-Match: the etag last seen)"""
    return Call("DELETE", _task(mailbox, list_id, task_id), headers={"If-Match": etag})


def key_of(task: Json) -> str:
    """The business key calsync linked to a task, or ``""``."""
    for link in task.get("linkedResources") or ():
        if link.get("applicationName") == APPLICATION and link.get("externalId"):
            return str(link["externalId"])
    return ""


def to_todo(item: Item, key: str = "") -> Json:
    """The todoTask body for an item (pure); with ``key``, the linkedResource that carries it (creates only)."""
    info = item.task or TaskInfo()
    body: Json = {
        "title": item.title,
        "body": {"content": item.body.html, "contentType": "html"}
        if item.body.html and not item.body.text
        else {"content": item.body.text, "contentType": "text"},
        "status": _TO_STATUS[info.status],
        "importance": "high" if 1 <= item.priority <= 4 else "low" if item.priority >= 6 else "normal",
        "categories": list(item.categories),
        "dueDateTime": _dtz(datetime.combine(_day(info.due), time())) if info.due is not None else None,
        "completedDateTime": _dtz(info.completed) if info.completed and info.status is TaskStatus.COMPLETED else None,
        "isReminderOn": bool(item.reminders and info.due is not None),
    }
    if body["isReminderOn"]:
        due = datetime.combine(_day(info.due), time())
        body["reminderDateTime"] = _dtz(due - timedelta(minutes=item.reminders[0].minutes_before))
    if key:
        body["linkedResources"] = [{"applicationName": APPLICATION, "displayName": item.title, "externalId": key}]
    return body


def from_todo(task: Json, uid: str) -> Item:
    """The item a todoTask holds (pure); times in UTC, the due date as a date."""
    content = task.get("body") or {}
    text = str(content.get("content") or "")
    html = str(content.get("contentType") or "").lower() == "html"
    due = instant(task["dueDateTime"]).date() if task.get("dueDateTime") else None
    status = _FROM_STATUS.get(str(task.get("status")), TaskStatus.NEEDS_ACTION)
    completed = instant(task["completedDateTime"]) if task.get("completedDateTime") else None
    reminders: tuple[Reminder, ...] = ()
    if task.get("isReminderOn") and task.get("reminderDateTime") and due is not None:
        before = datetime.combine(due, time(), UTC) - instant(task["reminderDateTime"])
        reminders = (Reminder(int(before.total_seconds() // 60)),)
    importance = str(task.get("importance") or "normal")
    return Item(
        uid=uid,
        kind=ItemKind.TASK,
        title=str(task.get("title") or ""),
        body=Body(html=text) if html else Body(text=text),
        priority={"high": 1, "low": 9}.get(importance, 0),
        categories=tuple(str(c) for c in task.get("categories") or ()),
        reminders=reminders,
        task=TaskInfo(status=status, due=due, completed=completed if status is TaskStatus.COMPLETED else None),
    )


def _day(moment: date | datetime | None) -> date:
    assert moment is not None
    return moment.date() if isinstance(moment, datetime) else moment


def _dtz(moment: datetime) -> Json:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return {"dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
