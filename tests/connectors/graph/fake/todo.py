"""The fake's Microsoft To Do: task lists (a default "Tasks" list per mailbox), tasks with etags, inline
linkedResources, ``$expand=linkedResources``, If-Match on PATCH and DELETE, paging and a tasks delta.

https://learn.microsoft.com/en-us/graph/api/todo-list-lists
https://learn.microsoft.com/en-us/graph/api/todotasklist-post-tasks (a linkedResource may be created inline)
https://learn.microsoft.com/en-us/graph/api/todotask-update
https://learn.microsoft.com/en-us/graph/api/todotask-delta (removed tasks carry ``@removed``)
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tests.connectors.graph.fake.http import GraphError, Json, Request, Response

if TYPE_CHECKING:
    from tests.connectors.graph.fake.mailbox import Mailbox
    from tests.connectors.graph.fake.server import FakeGraph

_DEFAULTS: Json = {
    "importance": "normal",
    "isReminderOn": False,
    "status": "notStarted",
    "categories": [],
    "body": {"content": "", "contentType": "text"},
}


@dataclass(slots=True)
class TodoList:
    """One task list: its resource, tasks by id with their change numbers, and delta snapshots."""

    data: Json
    tasks: dict[str, tuple[Json, int]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, int]] = field(default_factory=dict)


def lists(box: Mailbox) -> dict[str, TodoList]:
    """The mailbox's lists; the default list exists from the start, as in every Exchange Online mailbox."""
    if not box.todo:
        list_id = "AQMkADAw" + secrets.token_urlsafe(12)
        data = {"id": list_id, "displayName": "Tasks", "isOwner": True, "isShared": False}
        box.todo[list_id] = TodoList({**data, "wellknownListName": "defaultList"})
    return box.todo


def put(box: Mailbox, list_id: str, task_id: str, fields: Json) -> Json:
    """Create or change a task as the To Do app would (no guard); returns the stored task."""
    todo = lists(box)[list_id]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    old = todo.tasks.get(task_id, ({"id": task_id, "createdDateTime": now, **copy.deepcopy(_DEFAULTS)}, 0))[0]
    links = [{**link, "id": secrets.token_hex(8)} for link in fields.pop("linkedResources", None) or ()]
    task = {**old, **fields, "lastModifiedDateTime": now}
    task["linkedResources"] = old.get("linkedResources", []) + links
    todo.tasks[task_id] = (task, box.next_change())
    return task


def route(fake: FakeGraph, box: Mailbox, request: Request, rest: str) -> Response:
    """Answer one request below ``/users/{id}/todo``."""
    if rest == "/todo/lists" and request.method == "GET":
        return Response(200, {"value": [t.data for t in lists(box).values()]})
    found = re.fullmatch(r"/todo/lists/([^/]+)/tasks(?:/([^/]+))?", rest)
    if found is None:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest}'.")
    list_id, task_id = found.groups()
    todo = lists(box).get(list_id)
    if todo is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    if task_id == "delta" and request.method == "GET":
        return _delta(fake, box, todo, request)
    if task_id is None:
        if request.method == "POST":
            body = copy.deepcopy(request.body) if isinstance(request.body, dict) else {}
            task = put(box, list_id, "AAMkADAw" + secrets.token_urlsafe(24), body)
            return Response(201, _render(task, todo.tasks[task["id"]][1], expand=True))
        return fake.pager.next(request) or fake.pager.page(request, _all(todo, request), {})
    return _one(box, todo, list_id, task_id, request)


def _one(box: Mailbox, todo: TodoList, list_id: str, task_id: str, request: Request) -> Response:
    if task_id not in todo.tasks:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    task, change = todo.tasks[task_id]
    if request.method == "GET":
        return Response(200, _render(task, change, expand="linkedResources" in request.query.get("$expand", "")))
    wanted = request.headers.get("if-match")
    if wanted and wanted != etag(change):
        raise GraphError(412, "ErrorIrresolvableConflict", "The change key passed in the request does not match.")
    if request.method == "DELETE":
        del todo.tasks[task_id]
        return Response(204)
    if request.method == "PATCH":
        body = copy.deepcopy(request.body) if isinstance(request.body, dict) else {}
        body.pop("linkedResources", None)  # links change through their own endpoint
        task = put(box, list_id, task_id, body)
        return Response(200, _render(task, todo.tasks[task_id][1], expand=False))
    raise GraphError(405, "ErrorInvalidRequest", "The method is not allowed.")


def _delta(fake: FakeGraph, box: Mailbox, todo: TodoList, request: Request) -> Response:
    more = fake.pager.next(request)
    if more is not None:
        return more
    token = request.query.get("$deltatoken")
    if token is not None and token not in todo.snapshots:
        raise GraphError(410, "SyncStateNotFound", "The sync state is not found.")
    seen = todo.snapshots.get(token or "", {})
    items = [_render(t, c, expand=False) for t, c in todo.tasks.values() if seen.get(t["id"]) != c]
    items += [{"id": gone, "@removed": {"reason": "deleted"}} for gone in seen if gone not in todo.tasks]
    fresh = secrets.token_urlsafe(12)
    todo.snapshots[fresh] = {t["id"]: c for t, c in todo.tasks.values()}
    return fake.pager.page(request, items, {"@odata.deltaLink": f"{request.base}{request.path}?$deltatoken={fresh}"})


def _all(todo: TodoList, request: Request) -> list[Json]:
    expand = "linkedResources" in request.query.get("$expand", "")
    return [_render(task, change, expand=expand) for task, change in todo.tasks.values()]


def _render(task: Json, change: int, *, expand: bool) -> Json:
    body = {k: copy.deepcopy(v) for k, v in task.items() if k != "linkedResources" and v is not None}
    if expand:
        body["linkedResources"] = copy.deepcopy(task.get("linkedResources") or [])
    return {"@odata.etag": etag(change), **body}


def etag(change: int) -> str:
    return 'W/"' + base64.b64encode(f"todo-{change:08d}".encode()).decode() + '"'
