"""A protocol-faithful fake of Microsoft Graph and its token endpoint, on 127.0.0.1 over TLS.

It serves the Microsoft identity platform's OpenID configuration and client-credentials token endpoint (client
secret or certificate assertion), and the Graph v1.0 resources calsync uses, with OData paging and JSON batching.
Faults are injected on demand (``inject``): throttling with Retry-After (also inside a batch), 503/504, 410 on a
delta link, any status on any path, and timeouts (the work is done, the answer comes too late). Tokens can be
expired (``expire_tokens``). It also enforces Exchange's limit of four concurrent requests per mailbox.

https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/en-us/graph/json-batching
https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.connectors.graph.fake import other, subscriptions
from tests.connectors.graph.fake.auth import App, Tokens
from tests.connectors.graph.fake.events import route as event_route
from tests.connectors.graph.fake.http import GraphError, Pager, Request, Response
from tests.connectors.graph.fake.mailbox import Mailbox
from tests.connectors.graph.fake.tls import TestPki

MAILBOX_CONCURRENCY = 4


@dataclass(slots=True)
class Fault:
    """Answer the next ``times`` matching requests with ``status`` (0: answer normally, ``delay`` seconds late)."""

    status: int
    path: str = ""
    method: str = ""
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0
    inner: bool | None = None
    code: str = ""

    def matches(self, request: Request, inner: bool) -> bool:
        return (
            self.times > 0
            and self.path in request.path + "?" + "&".join(request.query)
            and request.method.startswith(self.method)
            and (self.inner is None or self.inner == inner)
        )


@dataclass(slots=True)
class Seen:
    """One request the fake answered, for tests that check what the client sent."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    inner: bool


class FakeGraph:
    """The fake service: tenants' apps, mailboxes, faults; ``start()`` serves it on a free port."""

    def __init__(self, pki: TestPki, tenant: str = "contoso.onmicrosoft.com") -> None:
        self.pki = pki
        self.tenant = tenant
        self.apps: dict[str, App] = {}
        self.tokens = Tokens()
        self.mailboxes: dict[str, Mailbox] = {}
        self.pager = Pager()
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.invitations: list[str] = []
        self.subscriptions: dict[str, Any] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- set-up -------------------------------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.cert_file, self.pki.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="fake-graph", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_mailbox(self, address: str) -> Mailbox:
        with self.lock:
            box = self.mailboxes.get(address.lower())
            if box is None:
                box = Mailbox(address, f"user-{len(self.mailboxes) + 1:04d}")
                self.mailboxes[address.lower()] = box
            return box

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    # -- answering ----------------------------------------------------------------------------------------------

    def answer(self, request: Request, *, inner: bool = False) -> Response:
        """One request (outer or inside a batch), faults first."""
        fault = self._fault(request, inner)
        if fault is not None and fault.status:
            return _fault_response(fault)
        try:
            response = self._dispatch(request)
        except GraphError as exc:
            response = exc.response()
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        with self.lock:
            self.seen.append(Seen(request.method, request.path, request.headers, response.status, inner))
        return response

    def _fault(self, request: Request, inner: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(request, inner):
                    fault.times -= 1
                    return fault
        return None

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.endswith(("/.well-known/openid-configuration", "/oauth2/v2.0/token")):
            return self.tokens.endpoint(self, request)
        if not path.startswith("/v1.0/"):
            raise GraphError(404, "NotFound", "No such endpoint.")
        app = self.tokens.check(self, request)
        request.path = path[len("/v1.0") :]
        if request.path == "/$batch" and request.method == "POST":
            return self._batch(request)
        if request.path.startswith("/subscriptions"):
            return subscriptions.route(self, request)
        parts = request.path.split("/", 3)
        if len(parts) < 3 or parts[1] != "users":
            raise GraphError(400, "BadRequest", f"Unsupported resource {request.path}.")
        box = self._mailbox(app, parts[2])
        with self.lock:
            busy = self.in_flight.get(box.address, 0)
            if busy >= MAILBOX_CONCURRENCY:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "0.05"},
                )
            self.in_flight[box.address] = busy + 1
            self.max_in_flight[box.address] = max(self.max_in_flight.get(box.address, 0), busy + 1)
        try:
            rest = "/" + parts[3] if len(parts) > 3 else ""
            with self.lock:
                return self._resource(box, request, rest)
        finally:
            with self.lock:
                self.in_flight[box.address] -= 1

    def _resource(self, box: Mailbox, request: Request, rest: str) -> Response:
        if rest == "" and request.method == "GET":
            return Response(200, {"id": box.user_id, "userPrincipalName": box.address, "mail": box.address})
        if rest.startswith(
            ("/outlook/", "/mailboxSettings", "/calendar/getSchedule", "/calendars", "/todo", "/contact")
        ):
            answered = other.route(self, box, request, rest)
            if answered is not None:
                return answered
        return event_route(self, box, request, rest)

    def _mailbox(self, app: App, who: str) -> Mailbox:
        box = self.mailboxes.get(who.lower()) or next((b for b in self.mailboxes.values() if b.user_id == who), None)
        if box is None:
            raise GraphError(
                404,
                "ErrorInvalidUser",
                f"The requested user '{who}' is invalid.",
            )
        if app.allowed is not None and box.address.lower() not in app.allowed:
            raise GraphError(
                403,
                "ErrorAccessDenied",
                "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
            )
        return box

    def _batch(self, request: Request) -> Response:
        requests = (request.body or {}).get("requests") or []
        if len(requests) > 20:
            raise GraphError(400, "BadRequest", "The number of batch requests exceeds the allowed limit of 20.")
        answers = []
        for inner in requests:
            split = urlsplit(inner["url"])
            headers = {k.lower(): v for k, v in (inner.get("headers") or {}).items()}
            headers.setdefault("authorization", request.headers.get("authorization", ""))
            sub = Request(
                inner["method"],
                "/v1.0" + unquote(split.path),
                dict(parse_qsl(split.query)),
                headers,
                inner.get("body"),
                request.base,
            )
            response = self.answer(sub, inner=True)
            answers.append(
                {"id": inner["id"], "status": response.status, "headers": response.headers, "body": response.body}
            )
        return Response(200, {"responses": answers[::-1]})  # Graph answers in any order


def _fault_response(fault: Fault) -> Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    codes = {429: "TooManyRequests", 503: "ServiceNotAvailable", 504: "GatewayTimeout", 410: "SyncStateNotFound"}
    message = "Injected fault."
    return GraphError(fault.status, fault.code or codes.get(fault.status, "InjectedFault"), message, headers).response()


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP into ``Request`` values and ``Response`` values back into HTTP."""

    protocol_version = "HTTP/1.1"
    fake: FakeGraph

    def log_message(self, format: str, *args: Any) -> None:  # the tests' output stays quiet
        return

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = self.headers.get("Content-Type", "")
        body: Any = raw.decode() if raw else None
        if raw and kind.startswith("application/json"):
            body = json.loads(raw)
        elif raw and kind.startswith("application/x-www-form-urlencoded"):
            body = dict(parse_qsl(raw.decode()))
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(
            self.command, unquote(split.path), dict(parse_qsl(split.query)), headers, body, self.fake.url + "/v1.0"
        )
        response = self.fake.answer(request)
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        try:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.body is not None:
                self.send_header("Content-Type", "application/json; odata.metadata=minimal")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return  # the client gave up waiting (an injected timeout)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle
