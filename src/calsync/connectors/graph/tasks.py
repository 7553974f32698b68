"""The To Do connector: one task list per collection (``mailbox`` for the default list, or ``mailbox/list-id``).

It shares the app registration, token cache and transport of ``GraphConnector`` (``GraphConnector.tasks()``)
and follows the same rules: ``changes`` follows a todoTask delta link (the first round lists every task, so it
is also the full listing; a 410 starts again); ``create`` looks the key up first (see ``todo``) so a retry finds
the first copy; ``update``/``delete`` compare the etag last seen and send it as If-Match. Tasks have no time
range Graph can filter on, so ``list`` ignores the window and the engine filters (``filters_window=False``).
https://learn.microsoft.com/en-us/graph/todo-concept-overview
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence

from calsync.connectors.base import Capabilities, ChangeSet, Fetched, FetchFailed
from calsync.connectors.graph import operations, todo
from calsync.connectors.graph.transport import Call, DeltaExpired, Json, Transport, check, read_items
from calsync.errors import AlreadyExists, NotFound, PreconditionFailed, ReadOnly
from calsync.model.content import Content
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.uids import ident_of_uid, uid_of_ident
from calsync.model.window import Window


class GraphTasksConnector:
    """Microsoft To Do lists of the mailboxes one app registration may reach (needs Tasks.ReadWrite.All)."""

    def __init__(
        self, transport: Transport, mailboxes: Sequence[str], *, name: str = "graph", read_only: bool = False
    ) -> None:
        self.name = name
        self.transport = transport
        self.mailboxes = tuple(mailboxes)
        self.capabilities = Capabilities(
            has_sync_token=True, filters_window=False, max_batch=20, read_only=read_only, formats=frozenset()
        )
        self._list_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"GraphTasksConnector({self.name!r})"

    # -- reading ------------------------------------------------------------------------------------------------

    def discover(self) -> builtins.list[CollectionInfo]:
        """Every task list of every mailbox; the default one ("Tasks") is named by the mailbox alone."""
        found = []
        for mailbox in self.mailboxes:
            for page in self.transport.pages(todo.list_lists(mailbox), mailbox):
                for one in page.get("value") or ():
                    default = one.get("wellknownListName") == "defaultList"
                    ident = mailbox if default else f"{mailbox}/{one['id']}"
                    name = str(one.get("displayName") or "")
                    found.append(CollectionInfo(ident, name, components=frozenset({"VTODO"})))
        return found

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """Everything (no token, or an expired one) or what the delta link reports since ``token``."""
        mailbox, list_id = self._where(collection)
        if token:
            try:
                changed, removed, link = self._round(operations.follow(token), mailbox)
                return ChangeSet(changed, removed, link)
            except DeltaExpired:
                pass
        changed, _removed, link = self._round(todo.tasks_delta(mailbox, list_id), mailbox)
        return ChangeSet(changed, (), link, complete=True)

    def _round(self, call: Call, mailbox: str) -> tuple[builtins.list[ItemRef], builtins.list[str], str]:
        changed, removed, link = [], [], ""
        for page in self.transport.pages(call, mailbox):
            for one in page.get("value") or ():
                if "@removed" in one:
                    removed.append(str(one["id"]))
                else:
                    changed.append(ItemRef(str(one["id"]), str(one["@odata.etag"])))
            link = str(page.get("@odata.deltaLink") or link)
        return changed, removed, link

    def list(self, collection: str, window: Window | None) -> builtins.list[ItemRef]:
        """Every task of the list (the window is left to the engine)."""
        return self._listing(collection)[0]

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Tasks in batches of 20; one missing or unreadable task is a value."""
        mailbox, list_id = self._where(collection)
        replies = self.transport.batch([todo.get_task(mailbox, list_id, h) for h in hrefs], mailbox)
        yield from read_items(hrefs, replies, self.name, "task", _content)

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Find the key's task (a retried create) or make it with the key linked."""
        self._writable(key)
        mailbox, list_id = self._where(collection)
        existing = self._listing(collection)[1].get(key)
        if existing is not None:
            got = next(self.get(collection, [existing.href]))
            if isinstance(got, Fetched) and got.content.digest == content.digest:
                return got.ref
            raise AlreadyExists(f"a task with the key {key!r} exists with other content", connector=self.name)
        body = todo.to_todo(content.item, key)
        created = self.transport.call(todo.create_task(mailbox, list_id, body), mailbox)
        return ItemRef(str(created["id"]), str(created["@odata.etag"]))

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the task if it is still at ``ref.version``."""
        self._writable(ref.href)
        mailbox, list_id = self._where(collection)
        try:
            self._current(collection, ref)
        except NotFound as exc:
            raise PreconditionFailed(f"{ref.href} is gone", connector=self.name, href=ref.href) from exc
        call = todo.update_task(mailbox, list_id, ref.href, todo.to_todo(content.item), ref.version)
        reply = self.transport.call(call, mailbox, ref.href)
        return ItemRef(ref.href, str(reply["@odata.etag"]))

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the task if it is still at ``ref.version``; already gone is fine."""
        self._writable(ref.href)
        mailbox, list_id = self._where(collection)
        try:
            self._current(collection, ref)
        except NotFound:
            return
        reply = self.transport.send(todo.delete_task(mailbox, list_id, ref.href, ref.version), mailbox)
        if reply.status != 404:
            check(reply, self.name, ref.href)

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """Unchanged: the delta link reports our own writes with the etags we returned for them."""
        return token

    # -- internals ----------------------------------------------------------------------------------------------

    def _where(self, collection: str) -> tuple[str, str]:
        """The mailbox and list id of a collection (the default list's id is looked up once)."""
        mailbox, _, list_id = collection.partition("/")
        if list_id:
            return mailbox, list_id
        if mailbox.lower() not in self._list_ids:
            for page in self.transport.pages(todo.list_lists(mailbox), mailbox):
                for one in page.get("value") or ():
                    if one.get("wellknownListName") == "defaultList":
                        self._list_ids[mailbox.lower()] = str(one["id"])
        if mailbox.lower() not in self._list_ids:
            raise NotFound(f"{mailbox} has no default task list", connector=self.name, href=collection)
        return mailbox, self._list_ids[mailbox.lower()]

    def _listing(self, collection: str) -> tuple[builtins.list[ItemRef], dict[str, ItemRef]]:
        """Every task's ref, and the refs of those calsync linked to a key, by key."""
        mailbox, list_id = self._where(collection)
        refs, keyed = [], {}
        for page in self.transport.pages(todo.list_tasks(mailbox, list_id), mailbox):
            for one in page.get("value") or ():
                ref = ItemRef(str(one["id"]), str(one["@odata.etag"]))
                refs.append(ref)
                if todo.key_of(one):
                    keyed[todo.key_of(one)] = ref
        return refs, keyed

    def _current(self, collection: str, ref: ItemRef) -> Json:
        """The task at ``ref``: ``NotFound`` when gone, ``PreconditionFailed`` when changed since it was read."""
        mailbox, list_id = self._where(collection)
        task = self.transport.call(todo.get_task(mailbox, list_id, ref.href), mailbox, ref.href)
        if task.get("@odata.etag") != ref.version:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)
        return task

    def _writable(self, href: str) -> None:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name, href=href)


def _content(task: Json) -> Content:
    """The task as content whose identity is its key (an identity already), else its id's: the item gets the UID
    that identity spells, which the writer escapes back into it."""
    ident = todo.key_of(task) or ident_of_uid(str(task["id"]))
    return Content.from_item(todo.from_todo(task, uid_of_ident(ident)))
