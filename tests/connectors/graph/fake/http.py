"""The fake's request and response values, Graph's error body, and OData paging, shared by its routes.

Error bodies follow https://learn.microsoft.com/en-us/graph/errors ; paging follows
https://learn.microsoft.com/en-us/graph/paging (``@odata.nextLink`` with an opaque ``$skiptoken``, or with
``$skip`` for ``/events``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

Json = dict[str, Any]


@dataclass(slots=True)
class Request:
    """One request as the routes see it: a batch's inner requests look exactly like outer ones."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    base: str = ""

    def prefer(self, name: str) -> str | None:
        """One preference of the Prefer header (``outlook.timezone="UTC"`` -> ``UTC``)."""
        for part in self.headers.get("prefer", "").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name.lower():
                return value.strip().strip('"')
        return None


@dataclass(slots=True)
class Response:
    """What a route answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphError(Exception):
    """Raised by a route to answer with Graph's error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": str(self), "innerError": {"request-id": secrets.token_hex(8)}}}
        return Response(self.status, body, self.headers)


class Pager:
    """Pages of a long answer: the first page now, the rest behind ``$skiptoken`` links."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[list[Json], Json]] = {}

    def page(self, request: Request, items: list[Json], last: Json, default_size: int = 10) -> Response:
        """The first page of ``items``; ``last`` (a deltaLink, say) goes on the last page."""
        size = int(request.prefer("odata.maxpagesize") or default_size)
        body: Json = {"value": items[:size]}
        rest = items[size:]
        if rest:
            token = secrets.token_urlsafe(12)
            self._pending[token] = (rest, last)
            body["@odata.nextLink"] = f"{request.base}{request.path}?$skiptoken={token}"
        else:
            body.update(last)
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if request.prefer("odata.maxpagesize") else {}
        return Response(200, body, headers)

    def next(self, request: Request) -> Response | None:
        """The next page, when the request carries a ``$skiptoken`` this pager issued."""
        token = request.query.get("$skiptoken")
        if token is None:
            return None
        if token not in self._pending:
            raise GraphError(400, "ErrorInvalidUrlQuery", "The skip token is not valid.")
        items, last = self._pending.pop(token)
        return self.page(request, items, last)


def offset_page(request: Request, items: list[Json], default_size: int = 10) -> Response:
    """One page of ``items`` from the request's ``$skip``, its next link the offset after it: how Graph pages
    ``/events`` (``@odata.nextLink`` ending ``$skip=10``). The caller lists the items again for every page, so an
    item deleted from a page already read moves every later one a place back, as it does in Graph."""
    size = int(request.prefer("odata.maxpagesize") or default_size)
    skip = int(request.query.get("$skip") or 0)
    body: Json = {"value": items[skip : skip + size]}
    if skip + size < len(items):
        query = urlencode({**request.query, "$skip": str(skip + size)}, quote_via=quote)
        body["@odata.nextLink"] = f"{request.base}{request.path}?{query}"
    headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if request.prefer("odata.maxpagesize") else {}
    return Response(200, body, headers)


def select(body: Json, request: Request) -> Json:
    """Keep only the ``$select`` fields (plus id and etag), as Graph does; what ``$expand`` asked for stays, since
    $select chooses among an item's own properties and $expand adds related ones to them.
    https://learn.microsoft.com/en-us/graph/query-parameters"""
    wanted = request.query.get("$select")
    if not wanted:
        return body
    expanded = {part.split("(", 1)[0].strip() for part in request.query.get("$expand", "").split(",")}
    keep = {name.strip() for name in wanted.split(",")} | {"id", "@odata.etag", "@removed"} | expanded
    return {key: value for key, value in body.items() if key in keep}


EXT_ANY = re.compile(
    r"^singleValueExtendedProperties/any\(\w+:\s*\w+/id eq '([^']+)' and \w+/value eq '((?:[^']|'')*)'\)$",
    re.IGNORECASE,
)
EXT_EXPAND = re.compile(
    r"^singleValueExtendedProperties\(\$filter=(id eq '[^']+'(?: or id eq '[^']+')*)\)$", re.IGNORECASE
)
EXT_ID = re.compile(r"id eq '([^']+)'")
ICAL_UID_EQ = re.compile(r"^iCalUId eq '((?:[^']|'')*)'$", re.IGNORECASE)
