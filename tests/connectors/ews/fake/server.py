"""A protocol-faithful fake of Exchange 2016 Web Services on 127.0.0.1 over TLS, for exchangelib to drive.

It serves ``/EWS/Exchange.asmx`` (the item operations, GetFolder, GetUserAvailability, GetUserOofSettings) and
the SOAP autodiscover service ``/autodiscover/autodiscover.svc`` (GetUserSettings). It checks Basic credentials
(the user principal name and its password), honours the ExchangeImpersonation header (only for accounts granted
ApplicationImpersonation) and delegate access (a DistinguishedFolderId with a Mailbox, item ids of another
mailbox), and injects faults on demand: ErrorServerBusy with BackOffMilliseconds, HTTP 503 and 429 with
Retry-After, any response code on an operation, and timeouts (the work is done, the answer comes too late).
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/delegate-access-and-ews-in-exchange
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree

from tests.connectors.ews.fake import notifications, other
from tests.connectors.ews.fake.items import Ops
from tests.connectors.ews.fake.soap import Call, EwsFault, ItemError, envelope, fault, parse
from tests.connectors.ews.fake.store import Mailbox, Store
from tests.connectors.graph.fake.tls import TestPki

BUILD = "15.1.2507.6"


@dataclass(slots=True)
class Fault:
    """Answer the next ``times`` calls of ``operation`` ('' any) with a fault.

    ``status`` 503 or 429: that HTTP status with ``Retry-After``; ``code`` "ErrorServerBusy": a SOAP fault with
    ``back_off_ms``; another ``code``: every response message of the call carries it; ``delay``: do the work,
    then answer ``delay`` seconds late (a client timeout).
    """

    status: int = 0
    code: str = ""
    operation: str = ""
    times: int = 1
    back_off_ms: int = 10
    retry_after: int = 0
    delay: float = 0.0

    def matches(self, operation: str) -> bool:
        return self.times > 0 and (not self.operation or self.operation == operation)


@dataclass(slots=True)
class Account:
    """A logon: its password and its own mailbox's address."""

    password: str
    address: str


@dataclass(slots=True)
class Seen:
    """One request the fake answered, for tests that check what the client sent."""

    operation: str
    user: str
    impersonated: str
    status: int
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class FakeEws:
    """The fake server: accounts, rights, mailboxes, faults; ``start()`` serves it on a free port."""

    pki: TestPki
    store: Store = field(default_factory=Store)
    accounts: dict[str, Account] = field(default_factory=dict)
    impersonators: set[str] = field(default_factory=set)
    delegates: dict[str, set[str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    invitations: list[str] = field(default_factory=list)
    autodiscovered: list[str] = field(default_factory=list)
    subscriptions: notifications.Subscriptions = field(default_factory=notifications.Subscriptions)
    lock: threading.RLock = field(default_factory=threading.RLock)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    @property
    def ews_url(self) -> str:
        return f"{self.url}/EWS/Exchange.asmx"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.url}/autodiscover/autodiscover.svc"

    def start(self) -> FakeEws:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.cert_file, self.pki.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="fake-ews", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- set-up -------------------------------------------------------------------------------------------------

    def add_account(self, upn: str, password: str, address: str) -> None:
        with self.lock:
            self.accounts[upn.lower()] = Account(password, address.lower())
            self.store.add_mailbox(address)

    def add_mailbox(self, address: str, *, delegates: tuple[str, ...] = ()) -> Mailbox:
        with self.lock:
            box = self.store.add_mailbox(address)
            self.delegates.setdefault(box.address, set()).update(d.lower() for d in delegates)
            return box

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    # -- answering ----------------------------------------------------------------------------------------------

    def answer(self, path: str, auth: str, body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        """Status, headers, body and how long to wait before sending them."""
        user = self._logon(auth)
        if user is None:
            return 401, {"WWW-Authenticate": 'Basic realm="127.0.0.1"'}, b"", 0.0
        try:
            call = parse(body)
        except etree.XMLSyntaxError:
            return 400, {}, b"", 0.0
        call.user = self.accounts[user].address
        with self.lock:
            injected = next((f for f in self.faults if f.matches(call.name)), None)
            if injected is not None:
                injected.times -= 1
            status, headers, out = self._dispatch(call, path, injected)
            self.seen.append(Seen(call.name, user, call.impersonated, status, dict(call.operation.attrib)))
        return status, headers, out, injected.delay if injected is not None else 0.0

    def _dispatch(self, call: Call, path: str, injected: Fault | None) -> tuple[int, dict[str, str], bytes]:
        xml = {"Content-Type": "text/xml; charset=utf-8"}
        if injected is not None and injected.status in (429, 503):
            return injected.status, {"Retry-After": str(injected.retry_after)}, b""
        try:
            if injected is not None and injected.code == "ErrorServerBusy":
                raise EwsFault(
                    "ErrorServerBusy", "The server cannot service this request right now.", injected.back_off_ms
                )
            if path.lower().startswith("/autodiscover"):
                return 200, xml, other.autodiscover(self, call)
            self._impersonation(call)
            response = self._operation(call)
        except EwsFault as error:
            return 500, xml, fault(error)
        if injected is not None and injected.code:
            other.fail_messages(response, injected.code)
        return 200, xml, envelope(response)

    def _operation(self, call: Call) -> etree._Element:
        ops = Ops(self.store, self._allowed, self.invitations)
        handlers = {
            "GetFolder": ops.get_folder,
            "GetItem": ops.get_item,
            "FindItem": ops.find_item,
            "SyncFolderItems": ops.sync_folder_items,
            "CreateItem": ops.create_item,
            "UpdateItem": ops.update_item,
            "DeleteItem": ops.delete_item,
            "Subscribe": lambda c: notifications.subscribe(ops, self.subscriptions, c),
            "GetEvents": lambda c: notifications.get_events(ops, self.subscriptions, c),
            "Unsubscribe": lambda c: notifications.unsubscribe(ops, self.subscriptions, c),
            "GetServerTimeZones": lambda c: other.time_zones(self, c),
            "ConvertId": lambda c: other.convert_id(self, c),
            "GetUserAvailabilityRequest": lambda c: other.availability(self, c),
            "GetUserOofSettingsRequest": lambda c: other.oof(self, c),
        }
        handler = handlers.get(call.name)
        if handler is None:
            raise EwsFault("ErrorInvalidRequest", f"The operation {call.name} is not served by this fake.")
        return handler(call)

    def _logon(self, auth: str) -> str | None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        account = self.accounts.get(user.lower())
        return user.lower() if account is not None and account.password == password else None

    def _impersonation(self, call: Call) -> None:
        if not call.impersonated:
            return
        user = next(upn for upn, a in self.accounts.items() if a.address == call.user)
        if user not in self.impersonators:
            raise EwsFault(
                "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user."
            )
        if call.impersonated not in self.store.mailboxes:
            raise EwsFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")

    def _allowed(self, call: Call, mailbox: str) -> None:
        if call.impersonated:
            if mailbox != call.impersonated:
                raise ItemError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            return
        if mailbox == call.user:
            return
        upn = next(u for u, a in self.accounts.items() if a.address == call.user)
        if upn not in self.delegates.get(mailbox, set()) and call.user not in self.delegates.get(mailbox, set()):
            raise ItemError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEws
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        status, headers, out, delay = self.fake.answer(self.path, self.headers.get("Authorization", ""), body)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
