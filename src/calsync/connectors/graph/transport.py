"""HTTP to Graph: bearer tokens, the Prefer headers calsync relies on, paging, JSON batching, throttling.

- Every request carries ``Prefer: outlook.timezone="UTC"`` (times are put back into each event's own zone by
  ``convert``) and ``IdType="ImmutableId"`` (ids survive a move between folders).
- 429, 503 and 504 are retried after the server's Retry-After (else a short exponential back-off), a few times,
  then raised as ``RateLimited`` / ``Unavailable``; a 401 for an expired token gets one new token.
- At most four requests per mailbox are in flight at once (Exchange's per-mailbox concurrency limit).
- ``batch()`` sends up to 20 requests per ``$batch`` and handles each inner answer on its own: throttled inner
  requests are sent again, the others are returned as they are.
https://learn.microsoft.com/en-us/graph/throttling
https://learn.microsoft.com/en-us/graph/json-batching
https://learn.microsoft.com/en-us/graph/paging
https://learn.microsoft.com/en-us/graph/outlook-immutable-id
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calsync.connectors.base import Fetched, FetchFailed
from calsync.connectors.graph.auth import TokenSource
from calsync.errors import (
    AuthError,
    ConnectorError,
    InvalidItem,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unavailable,
)
from calsync.model.content import Content
from calsync.model.refs import ItemRef

if TYPE_CHECKING:
    import httpx

Json = dict[str, Any]
GRAPH_URL = "https://graph.microsoft.com/v1.0"
BATCH_SIZE = 20
PER_MAILBOX = 4
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId"'
_RETRIED = frozenset({429, 503, 504})


class DeltaExpired(ConnectorError):
    """A delta link Graph no longer knows (410, syncStateNotFound): start again with a full round."""


@dataclass(frozen=True, slots=True)
class Call:
    """One request: method, URL relative to the Graph root (or absolute, for next and delta links), body."""

    method: str
    url: str
    body: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: status, headers (lower-case names) and the JSON body (empty for 204)."""

    status: int
    headers: dict[str, str]
    body: Json

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Transport:
    """One connection's HTTP client to Graph."""

    def __init__(
        self,
        tokens: TokenSource,
        client: httpx.Client,
        *,
        graph_url: str = GRAPH_URL,
        name: str = "",
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
        max_wait: float = 120.0,
    ) -> None:
        self.tokens = tokens
        self.client = client
        self.graph_url = graph_url.rstrip("/")
        self.name = name
        self.sleep = sleep
        self.attempts = attempts
        self.max_wait = max_wait
        self._mailboxes: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def send(self, call: Call, mailbox: str) -> Reply:
        """One request, retried when throttled; the reply whatever its status (see ``check``)."""
        refreshed = False
        for attempt in range(self.attempts):
            with self._slot(mailbox):
                reply = self._once(call)
            if reply.status == 401 and not refreshed:
                refreshed = True
                self.tokens.invalidate()
                continue
            if reply.status not in _RETRIED or attempt == self.attempts - 1:
                return reply
            self.sleep(self._wait(reply, attempt))
        return reply

    def call(self, call: Call, mailbox: str, href: str = "") -> Json:
        """One request whose failure is an error: the JSON body of a 2xx answer."""
        return check(self.send(call, mailbox), self.name, href).body

    def pages(self, call: Call, mailbox: str) -> Iterator[Json]:
        """Every page of a listing, following ``@odata.nextLink``; the last page holds any deltaLink."""
        while True:
            page = self.call(call, mailbox)
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            call = Call("GET", str(link), headers=call.headers)

    def batch(self, calls: Sequence[Call], mailbox: str) -> list[Reply]:
        """The replies to ``calls`` in order, 20 per ``$batch``; throttled inner requests are sent again."""
        replies: dict[int, Reply] = {}
        pending = list(range(len(calls)))
        for attempt in range(self.attempts):
            throttled: list[int] = []
            wait = 0.0
            for start in range(0, len(pending), BATCH_SIZE):
                chunk = pending[start : start + BATCH_SIZE]
                for index, reply in zip(chunk, self._batch_once([calls[i] for i in chunk], mailbox), strict=True):
                    replies[index] = reply
                    if reply.status in _RETRIED and attempt < self.attempts - 1:
                        throttled.append(index)
                        wait = max(wait, self._wait(reply, attempt))
            if not throttled:
                break
            pending = throttled
            self.sleep(wait)
        return [replies[i] for i in range(len(calls))]

    def _batch_once(self, calls: Sequence[Call], mailbox: str) -> list[Reply]:
        requests = []
        for number, one in enumerate(calls):
            request: Json = {
                "id": str(number),
                "method": one.method,
                "url": one.url,
                "headers": _with_preferences(one.headers),
            }
            if one.body is not None:
                request["body"] = one.body
                request["headers"]["Content-Type"] = "application/json"
            requests.append(request)
        body = self.call(Call("POST", "/$batch", {"requests": requests}), mailbox)
        by_id = {str(r.get("id")): r for r in body.get("responses") or ()}
        replies = []
        for number in range(len(calls)):
            found = by_id.get(str(number))
            if found is None:
                replies.append(Reply(502, {}, {"error": {"code": "MissingBatchResponse", "message": "no answer"}}))
                continue
            headers = {k.lower(): str(v) for k, v in (found.get("headers") or {}).items()}
            replies.append(Reply(int(found.get("status") or 500), headers, found.get("body") or {}))
        return replies

    def _once(self, call: Call) -> Reply:
        import httpx

        url = (
            call.url if call.url.startswith("https://") or call.url.startswith("http://") else self.graph_url + call.url
        )
        headers = {"Authorization": "Bearer " + self.tokens.token(), **_with_preferences(call.headers)}
        try:
            response = self.client.request(call.method, url, json=call.body, headers=headers)
        except httpx.TimeoutException as exc:
            raise Unavailable(
                f"Graph did not answer in time ({call.method} {_path(call.url)})", connector=self.name
            ) from exc
        except httpx.HTTPError as exc:
            raise Unavailable(f"Graph cannot be reached: {type(exc).__name__}", connector=self.name) from exc
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {"error": {"code": "NotJson", "message": response.text[:200]}}
        return Reply(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            body if isinstance(body, dict) else {},
        )

    def _wait(self, reply: Reply, attempt: int) -> float:
        hint = reply.headers.get("retry-after")
        try:
            seconds = float(hint) if hint is not None else 0.5 * 2**attempt
        except ValueError:
            seconds = 0.5 * 2**attempt
        return min(max(seconds, 0.0), self.max_wait)

    def _slot(self, mailbox: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._mailboxes.get(mailbox.lower())
            if slot is None:
                slot = self._mailboxes[mailbox.lower()] = threading.BoundedSemaphore(PER_MAILBOX)
            return slot


def _with_preferences(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with calsync's preferences joined to any the call has of its own (a page size).

    Why joined: one Prefer header replaces the other, and a listing that lost ``IdType`` names its events by
    mutable ids, not the immutable ones they were created and linked under.
    """
    own = headers.get("Prefer")
    return {**headers, "Prefer": f"{PREFER}, {own}" if own else PREFER}


def check(reply: Reply, connector: str, href: str = "") -> Reply:
    """The reply when it is a success, else the matching ``ConnectorError`` with Graph's code and message."""
    if reply.ok:
        return reply
    found = reply.body.get("error")
    error: Json = found if isinstance(found, dict) else {}
    code = str(error.get("code") or "")
    text = f"Graph answered {reply.status} {code}: {str(error.get('message') or '')[:300]}".strip()
    status = reply.status
    if status == 404:
        raise NotFound(text, connector=connector, href=href)
    if status == 412:
        raise PreconditionFailed(text, connector=connector, href=href)
    if status == 410 or code.lower() == "syncstatenotfound":
        raise DeltaExpired(text, connector=connector, href=href)
    if status in (401, 403):
        raise AuthError(_access_hint(code, text), connector=connector, href=href)
    if status == 429:
        retry = reply.headers.get("retry-after")
        raise RateLimited(
            text, retry_after=float(retry) if retry and retry.replace(".", "").isdigit() else None, connector=connector
        )
    if status in {400, 422}:
        raise InvalidItem(text, connector=connector, href=href)
    raise Unavailable(text, connector=connector, href=href)


def _access_hint(code: str, text: str) -> str:
    if "AccessPolicy" in text or "RAOP" in text:
        return f"the mailbox is outside the app's application access policy: {text}"
    if code == "ErrorAccessDenied":
        return f"access denied (admin consent or a permission is missing): {text}"
    return text


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def read_items(
    hrefs: Sequence[str],
    replies: Sequence[Reply],
    connector: str,
    what: str,
    to_content: Callable[[Json], Content],
) -> Iterator[Fetched | FetchFailed]:
    """The items of a batch of GETs, one failure a value (the Connector port's ``get`` contract).

    One place for every Graph collection (events, tasks, contacts): a missing item is ``NotFound``, a body that
    cannot be converted is ``InvalidItem`` naming ``what`` it was.
    """
    for href, reply in zip(hrefs, replies, strict=True):
        try:
            body = check(reply, connector, href).body
            yield Fetched(ItemRef(href, str(body["@odata.etag"])), to_content(body))
        except (NotFound, InvalidItem) as exc:
            yield FetchFailed(href, exc)
        except (KeyError, ValueError, TypeError) as exc:
            yield FetchFailed(href, InvalidItem(f"unreadable {what}: {exc}", connector=connector, href=href))
