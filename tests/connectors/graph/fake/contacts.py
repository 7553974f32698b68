"""The fake's Outlook contacts: the default Contacts folder and other folders, contacts with etags, filterable
single-value extended properties, ``$select``, paging, and If-Match on PATCH and DELETE.

https://learn.microsoft.com/en-us/graph/api/user-list-contacts (the default folder only)
https://learn.microsoft.com/en-us/graph/api/user-list-contactfolders
https://learn.microsoft.com/en-us/graph/api/contact-update
https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
from typing import TYPE_CHECKING

from tests.connectors.graph.fake.http import EXT_ANY, EXT_EXPAND, EXT_ID, GraphError, Json, Request, Response, select

if TYPE_CHECKING:
    from tests.connectors.graph.fake.mailbox import Mailbox
    from tests.connectors.graph.fake.server import FakeGraph

DEFAULT = ""
"""The default Contacts folder's key in ``Mailbox.contacts``; other folders are keyed by their id."""


def put(box: Mailbox, folder: str, contact_id: str, fields: Json) -> Json:
    """Create or change a contact as Outlook would (no guard); returns it."""
    old = box.contacts.get(contact_id, ({"id": contact_id, "parentFolderId": folder or "contacts"}, 0))[0]
    contact = {**old, **copy.deepcopy(fields)}
    box.contacts[contact_id] = (contact, box.next_change())
    return contact


def route(fake: FakeGraph, box: Mailbox, request: Request, rest: str) -> Response:
    """Answer one request below ``/users/{id}`` for contacts and contact folders."""
    if rest == "/contactFolders" and request.method == "GET":
        return Response(200, {"value": [select(f, request) for f in box.contact_folders.values()]})
    found = re.fullmatch(r"(?:/contactFolders/([^/]+))?/contacts(?:/([^/]+))?", rest)
    if found is None:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest}'.")
    folder, contact_id = found.group(1) or DEFAULT, found.group(2)
    if folder and folder not in box.contact_folders:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    if contact_id is not None:
        return _one(box, contact_id, request)
    if request.method == "POST":
        contact = put(box, folder, "AAMkADAwCt" + secrets.token_urlsafe(24), request.body or {})
        return Response(201, render(contact, box.contacts[contact["id"]][1], request))
    return fake.pager.next(request) or fake.pager.page(request, _listing(box, folder, request), {})


def _one(box: Mailbox, contact_id: str, request: Request) -> Response:
    if contact_id not in box.contacts:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    contact, change = box.contacts[contact_id]
    if request.method == "GET":
        return Response(200, render(contact, change, request))
    wanted = request.headers.get("if-match")
    if wanted and wanted != etag(change):
        raise GraphError(412, "ErrorIrresolvableConflict", "The change key passed in the request does not match.")
    if request.method == "DELETE":
        del box.contacts[contact_id]
        return Response(204)
    if request.method == "PATCH":
        fields = copy.deepcopy(request.body) if isinstance(request.body, dict) else {}
        props = {p["id"].lower(): p for p in contact.get("singleValueExtendedProperties", [])}
        props.update({p["id"].lower(): p for p in fields.pop("singleValueExtendedProperties", [])})
        contact = put(box, "", contact_id, {**fields, "singleValueExtendedProperties": list(props.values())})
        return Response(200, render(contact, box.contacts[contact_id][1], request))
    raise GraphError(405, "ErrorInvalidRequest", "The method is not allowed.")


def _listing(box: Mailbox, folder: str, request: Request) -> list[Json]:
    chosen = [(c, n) for c, n in box.contacts.values() if c["parentFolderId"] == (folder or "contacts")]
    wanted = request.query.get("$filter")
    if wanted:
        match = EXT_ANY.match(wanted.strip())
        if match is None:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "The query filter is not supported.")
        key, value = match.group(1).lower(), match.group(2).replace("''", "'")
        chosen = [
            (c, n)
            for c, n in chosen
            if any(p["id"].lower() == key and p["value"] == value for p in c.get("singleValueExtendedProperties", []))
        ]
    return [render(c, n, request) for c, n in chosen]


def render(contact: Json, change: int, request: Request) -> Json:
    """A contact as Graph answers it: etag, extended properties only when expanded, ``$select`` applied."""
    out = copy.deepcopy(contact)
    out["@odata.etag"] = etag(change)
    props = out.pop("singleValueExtendedProperties", None) or []
    match = EXT_EXPAND.match(request.query.get("$expand", ""))
    if match:
        ids = {found.lower() for found in EXT_ID.findall(match.group(1))}
        chosen = [p for p in props if p["id"].lower() in ids]
        if chosen:
            out["singleValueExtendedProperties"] = chosen
    return select(out, request)


def etag(change: int) -> str:
    return 'W/"' + base64.b64encode(f"contact-{change:08d}".encode()).decode() + '"'
