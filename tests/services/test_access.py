"""API tokens and webhooks through the services, on SQLite and PostgreSQL, delivering to a real HTTP receiver on
loopback: signatures, back-off, dead letters, 410, TLS, two deliverers at once, and no secret in any log line."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from calsync.crypto import Cipher, Secret, new_key
from calsync.errors import ConfigError, StateError
from calsync.services.access import (
    DeliveryState,
    EventType,
    RetryPolicy,
    TokenService,
    WebhookService,
    sign,
    verify_signature,
)
from calsync.state.access import SQLAccessStore, open_access_store
from calsync.state.access_port import Claim, DeliveryResult
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord
from tests.connectors.dav.pki import make_pki

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHANGES = EventType.CHANGES
POLICY = RetryPolicy(max_attempts=3, base=timedelta(seconds=10), cap=timedelta(minutes=1), jitter=0.5)


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny threaded HTTP server on loopback: records every POST and answers with the scripted statuses (per
    path, then 200), after ``delay`` seconds."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    delay: float = 0.0

    def url(self, path: str = "/hook") -> str:
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}{path}"


def start_receiver(context: ssl.SSLContext | None = None) -> tuple[Receiver, threading.Thread]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(receiver.delay)
            with lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                statuses = receiver.script.get(self.path, [])
                status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    return receiver, thread


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started, thread = start_receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()
    thread.join()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state database of each kind holding the integration ``acme``."""
    found = str(tmp_path / "state.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    admin = open_admin_store(found)
    admin.add_integration(IntegrationRecord("acme", "ACME", "caldav", "delegate"))
    admin.close()
    return found


@pytest.fixture
def store(url: str) -> Iterator[SQLAccessStore]:
    opened = open_access_store(url)
    yield opened
    opened.close()


@pytest.fixture
def cipher() -> Cipher:
    return Cipher([new_key()], origin="test")


@pytest.fixture
def webhooks(store: SQLAccessStore, cipher: Cipher) -> WebhookService:
    return WebhookService(store, cipher, policy=POLICY, timeout=5, rng=random.Random(7))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


# -- tokens ----------------------------------------------------------------------------------------------------


def test_a_token_is_shown_once_stored_hashed_and_verified(store: SQLAccessStore, url: str) -> None:
    tokens = TokenService(store)
    made = tokens.create("acme", "erp")
    plain = made.plain.reveal()
    assert plain.startswith(made.info.prefix + "_")
    assert len(plain) == 55
    assert repr(made.plain) == "Secret('***')"
    assert plain not in repr(made)
    assert tokens.verify(plain) == made.info
    assert [t.name for t in tokens.tokens("acme")] == ["erp"]
    assert plain not in repr(tokens.tokens("acme"))
    stored = store.token_by_hash(hashlib.sha256(plain.encode()).hexdigest())
    assert stored is not None
    assert plain not in repr(stored)


@pytest.mark.parametrize(
    "wrong",
    ["", "cs_", "Bearer x", "cs_0123abcd_" + "A" * 43, "cs_0123abcd_" + "A" * 44, "x" * 5000, "cs_XYZ_" + "a" * 43],
)
def test_wrong_and_malformed_tokens_are_refused(store: SQLAccessStore, wrong: str) -> None:
    tokens = TokenService(store)
    tokens.create("acme", "erp")
    assert tokens.verify(wrong) is None


def test_a_revoked_token_or_one_of_a_removed_integration_stops_working(store: SQLAccessStore, url: str) -> None:
    tokens = TokenService(store)
    first, second = tokens.create("acme", "erp"), tokens.create("acme", "shop")
    assert tokens.revoke("acme", "erp") == 1
    assert tokens.verify(first.plain.reveal()) is None
    assert tokens.verify(second.plain.reveal()) is not None
    with pytest.raises(ConfigError, match="no live token 'erp'"):
        tokens.revoke("acme", "erp")
    assert tokens.revoke("acme", second.info.prefix) == 1  # by the prefix shown in listings
    assert [t.revoked_at is not None for t in tokens.tokens("acme")] == [True, True]
    third = tokens.create("acme", "third")
    admin = open_admin_store(url)
    admin.remove_integration("acme")
    admin.close()
    assert tokens.verify(third.plain.reveal()) is None


def test_token_names_and_integrations_are_checked(store: SQLAccessStore) -> None:
    tokens = TokenService(store)
    tokens.create("acme", "erp")
    with pytest.raises(ConfigError, match="already has a token called 'erp'"):
        tokens.create("acme", "erp")
    with pytest.raises(ConfigError, match="no integration called 'nobody'"):
        tokens.create("nobody", "erp")
    with pytest.raises(ConfigError, match="not a valid name"):
        tokens.create("acme", "a b")
    with pytest.raises(ConfigError, match="no integration called 'nobody'"):
        tokens.tokens("nobody")
    with pytest.raises(ConfigError, match="no integration called 'nobody'"):
        tokens.revoke("nobody", "erp")


def test_last_use_is_written_at_most_once_a_minute(store: SQLAccessStore) -> None:
    clock = Clock()
    tokens = TokenService(store, clock=clock)
    plain = tokens.create("acme", "erp").plain.reveal()
    assert tokens.tokens("acme")[0].last_used_at is None
    tokens.verify(plain)
    clock.now = T0 + timedelta(seconds=59)
    tokens.verify(plain)
    assert tokens.tokens("acme")[0].last_used_at == T0
    clock.now = T0 + timedelta(seconds=61)
    tokens.verify(plain)
    assert tokens.tokens("acme")[0].last_used_at == T0 + timedelta(seconds=61)


# -- webhooks --------------------------------------------------------------------------------------------------


def test_a_delivery_is_signed_and_the_signature_verifies(webhooks: WebhookService, receiver: Receiver) -> None:
    made = webhooks.add("acme", receiver.url(), [CHANGES])
    assert made.secret is not None
    assert webhooks.enqueue("acme", CHANGES, {"cursor": 42, "name": "Müller"}, "evt-1") == 1
    assert webhooks.enqueue("acme", CHANGES, {"cursor": 42}, "evt-1") == 0  # idempotent
    assert webhooks.enqueue("acme", EventType.PING, {}, "ping-1") == 0  # not subscribed
    report = webhooks.deliver_due()
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    [got] = receiver.received
    envelope = json.loads(got.body)
    assert (envelope["id"], envelope["type"], envelope["integration"]) == ("evt-1", "changes.available", "acme")
    assert envelope["data"] == {"cursor": 42, "name": "Müller"}
    assert got.headers["Calsync-Event-Id"] == "evt-1"
    assert got.headers["Content-Type"] == "application/json"
    header = got.headers["Calsync-Signature"]
    assert verify_signature(made.secret, header, got.body, time.time())
    assert verify_signature(made.secret.reveal(), header, got.body, datetime.now(UTC))
    assert not verify_signature(made.secret, header, got.body + b" ", time.time())
    assert not verify_signature("another-secret-of-16+", header, got.body, time.time())
    assert not verify_signature(made.secret, header, got.body, time.time() + 301)  # a replay, too late
    [row] = webhooks.deliveries("acme")
    assert (row.state, row.attempts, row.last_status) == (DeliveryState.DELIVERED, 1, 200)
    assert webhooks.deliver_due().attempts == ()


def test_verify_signature_reads_the_header_strictly() -> None:
    secret, body = Secret("a-signing-secret-1234"), b'{"id":"x"}'
    good = sign(secret, 1_700_000_000, body)
    other = sign(Secret("the-next-secret-5678"), 1_700_000_000, body).split(",")[1]
    assert verify_signature(secret, f"{good},{other}", body, 1_700_000_100)  # several v1: any may match
    assert verify_signature(secret, f"{other},{good}", body, 1_700_000_100)
    for broken in ("", "v1=abc", good.replace("t=", "t=x"), f"{good},t=1", "t=1700000000", good.split(",")[1]):
        assert not verify_signature(secret, broken, body, 1_700_000_100), broken


def test_a_500_is_retried_with_back_off_then_delivered(webhooks: WebhookService, receiver: Receiver) -> None:
    webhooks.add("acme", receiver.url(), [CHANGES], Secret("given-secret-0123456789"))
    receiver.script["/hook"] = [500, 503]
    webhooks.enqueue("acme", CHANGES, {}, "evt-1")
    now = datetime.now(UTC)
    assert webhooks.deliver_due(now).retrying == 1
    [row] = webhooks.deliveries("acme")
    assert (row.state, row.attempts, row.last_status, row.last_error) == (
        DeliveryState.PENDING, 1, 500, "HTTP 500 Internal Server Error"
    )  # fmt: skip
    first_wait = row.next_attempt_at - now
    assert timedelta(seconds=5) <= first_wait <= timedelta(seconds=10)  # base 10 s, up to half off
    assert webhooks.deliver_due(now + first_wait - timedelta(seconds=1)).attempts == ()  # not due yet
    assert webhooks.deliver_due(row.next_attempt_at).retrying == 1
    [row2] = webhooks.deliveries("acme")
    second_wait = row2.next_attempt_at - row.next_attempt_at
    assert timedelta(seconds=10) <= second_wait <= timedelta(seconds=20)  # doubled
    assert webhooks.deliver_due(row2.next_attempt_at).delivered == 1
    assert [r.headers["Calsync-Event-Id"] for r in receiver.received] == ["evt-1"] * 3


def test_after_max_attempts_an_event_is_a_dead_letter_until_retried(
    webhooks: WebhookService, receiver: Receiver
) -> None:
    webhooks.add("acme", receiver.url(), [CHANGES])
    receiver.script["/hook"] = [500] * 3
    webhooks.enqueue("acme", CHANGES, {}, "evt-1")
    now = datetime.now(UTC)
    for _ in range(3):
        webhooks.deliver_due(now)
        now += POLICY.cap
    [dead] = webhooks.deliveries("acme", DeliveryState.FAILED)
    assert (dead.attempts, dead.last_status) == (3, 500)
    assert webhooks.deliver_due(now + timedelta(days=1)).attempts == ()
    assert len(receiver.received) == 3
    with pytest.raises(ConfigError, match="no failed event"):
        webhooks.retry("acme", dead.id + 100)
    assert webhooks.retry("acme", dead.id) == 1
    assert webhooks.deliver_due(datetime.now(UTC)).delivered == 1
    assert webhooks.deliveries("acme", DeliveryState.FAILED) == []


def test_410_gone_disables_the_subscription(webhooks: WebhookService, receiver: Receiver) -> None:
    gone = webhooks.add("acme", receiver.url("/gone"), [CHANGES]).view
    webhooks.add("acme", receiver.url("/live"), [CHANGES])
    receiver.script["/gone"] = [410]
    webhooks.enqueue("acme", CHANGES, {}, "evt-1")
    report = webhooks.deliver_due()
    assert (report.delivered, report.disabled) == (1, 1)
    disabled = next(s for s in webhooks.subscriptions("acme") if s.id == gone.id)
    assert disabled.disabled_at is not None
    assert "410" in disabled.disabled_reason
    webhooks.enqueue("acme", CHANGES, {}, "evt-2")
    assert webhooks.deliver_due().delivered == 1
    assert [r.path for r in receiver.received].count("/gone") == 1


def test_an_unreachable_receiver_is_retried_and_recorded(webhooks: WebhookService, receiver: Receiver) -> None:
    dead_url = receiver.url()
    receiver.server.shutdown()
    receiver.server.server_close()
    webhooks.add("acme", dead_url, [CHANGES])
    webhooks.enqueue("acme", CHANGES, {}, "evt-1")
    assert webhooks.deliver_due().retrying == 1
    [row] = webhooks.deliveries("acme")
    assert row.last_status is None
    assert row.last_error.startswith("ConnectError")


def test_tls_is_verified_by_default(
    store: SQLAccessStore, cipher: Cipher, webhooks: WebhookService, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.certificate, pki.key)
    tls, thread = start_receiver(context)
    try:
        webhooks.add("acme", tls.url(), [CHANGES])
        webhooks.enqueue("acme", CHANGES, {}, "evt-1")
        assert webhooks.deliver_due().retrying == 1
        assert "CERTIFICATE_VERIFY_FAILED" in webhooks.deliveries("acme")[0].last_error
        trusting = WebhookService(store, cipher, verify=ssl.create_default_context(cafile=pki.ca))
        assert trusting.deliver_due(datetime.now(UTC) + timedelta(hours=1)).delivered == 1
        assert len(tls.received) == 1
    finally:
        tls.server.shutdown()
        tls.server.server_close()
        thread.join()


def test_two_deliverers_at_once_send_each_event_once(url: str, cipher: Cipher, receiver: Receiver) -> None:
    stores = [open_access_store(url) for _ in range(2)]
    services = [WebhookService(s, cipher, timeout=5) for s in stores]
    services[0].add("acme", receiver.url(), [CHANGES])
    for n in range(20):
        services[0].enqueue("acme", CHANGES, {"n": n}, f"evt-{n}")
    receiver.delay = 0.02
    reports = []
    barrier = threading.Barrier(2)

    def deliver(service: WebhookService) -> None:
        barrier.wait()
        reports.append(service.deliver_due())

    threads = [threading.Thread(target=deliver, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()
    ids = [r.headers["Calsync-Event-Id"] for r in receiver.received]
    assert sorted(ids) == sorted(f"evt-{n}" for n in range(20))
    assert sum(r.delivered for r in reports) == 20
    assert all(r.delivered > 0 for r in reports)  # both took part


def test_subscriptions_are_checked_and_listed_without_secrets(webhooks: WebhookService) -> None:
    made = webhooks.add("acme", "https://erp.example/hook", [CHANGES, CHANGES, EventType.PING])
    assert made.view.events == (CHANGES, EventType.PING)
    assert webhooks.add("acme", "https://erp.example/all").view.events == tuple(EventType)
    assert webhooks.add("acme", "http://x.example/", [], Secret("given-secret-0123456789")).secret is None
    assert made.secret is not None
    assert made.secret.reveal() not in repr(webhooks.subscriptions("acme"))
    for bad, message in [
        ("ftp://x.example/", "must be https"),
        ("https://user:pw@x.example/", "must not carry credentials"),
        ("https:///nohost", "must be https"),
        ("https://erp.example/hook", "already subscribed"),
    ]:
        with pytest.raises(ConfigError, match=message):
            webhooks.add("acme", bad)
    with pytest.raises(ConfigError, match="at least 16"):
        webhooks.add("acme", "https://y.example/", secret=Secret("short"))
    with pytest.raises(ConfigError, match="no integration called"):
        webhooks.add("nobody", "https://y.example/")
    with pytest.raises(ConfigError, match="not JSON"):
        webhooks.enqueue("acme", CHANGES, {"when": datetime.now(UTC)}, "evt-1")
    with pytest.raises(ConfigError, match="event id"):
        webhooks.enqueue("acme", CHANGES, {}, "")
    with pytest.raises(ConfigError, match="no integration called"):
        webhooks.enqueue("nobody", CHANGES, {}, "evt-1")
    webhooks.remove("acme", made.view.id)
    with pytest.raises(ConfigError, match=f"no webhook {made.view.id}"):
        webhooks.remove("acme", made.view.id)


def test_rotating_the_key_keeps_webhooks_signing(
    store: SQLAccessStore, webhooks: WebhookService, receiver: Receiver
) -> None:
    made = webhooks.add("acme", receiver.url(), [CHANGES])
    assert made.secret is not None
    new = Cipher([new_key()], origin="new")
    assert webhooks.rotate_key(new) == 1
    rotated = WebhookService(store, new)
    rotated.enqueue("acme", CHANGES, {}, "evt-1")
    assert rotated.deliver_due().delivered == 1
    got = receiver.received[0]
    assert verify_signature(made.secret, got.headers["Calsync-Signature"], got.body, time.time())


def test_back_off_doubles_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(minutes=10), jitter=0.5)
    rng = random.Random(1)
    waits = [[policy.delay(n, rng) for _ in range(50)] for n in range(1, 8)]
    assert all(timedelta(seconds=15) <= w <= timedelta(seconds=30) for w in waits[0])
    assert all(timedelta(minutes=5) <= w <= timedelta(minutes=10) for w in waits[6])  # capped
    assert len(set(waits[0])) > 1  # jittered


def test_no_token_or_secret_reaches_the_log(
    store: SQLAccessStore, webhooks: WebhookService, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calsync")  # other tests may have set calsync's own level
    tokens = TokenService(store)
    plain = tokens.create("acme", "erp").plain.reveal()
    tokens.verify(plain)
    tokens.revoke("acme", "erp")
    secret = webhooks.add("acme", receiver.url(), [CHANGES]).secret
    assert secret is not None
    receiver.script["/hook"] = [500]
    webhooks.enqueue("acme", CHANGES, {}, "evt-1")
    webhooks.deliver_due()
    webhooks.deliver_due(datetime.now(UTC) + timedelta(hours=1))
    assert "created API token erp" in caplog.text
    assert "delivered event evt-1" in caplog.text
    assert "retry at" in caplog.text
    # the random part after the prefix ("cs_<id>_…"), which may itself hold "_" (a one-letter tail was "found")
    for value in (plain, plain.split("_", 2)[-1], secret.reveal()):
        assert value not in caplog.text


def test_a_secret_under_another_key_fails_its_row_and_the_rest_still_go(
    store: SQLAccessStore, webhooks: WebhookService, receiver: Receiver
) -> None:
    webhooks.add("acme", receiver.url("/old"), [CHANGES])
    stranger = WebhookService(store, Cipher([new_key()], origin="another key"))
    stranger.add("acme", receiver.url("/new"), [CHANGES])
    webhooks.enqueue("acme", CHANGES, {}, "evt-1")
    report = webhooks.deliver_due()
    assert (report.delivered, report.retrying) == (1, 1)
    failed = next(d for d in webhooks.deliveries("acme") if d.url.endswith("/new"))
    assert "cannot be decrypted with the secret key from test" in failed.last_error
    assert [r.path for r in receiver.received] == ["/old"]


def test_the_readmes_receiver_snippet_verifies_a_real_delivery(webhooks: WebhookService, receiver: Receiver) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("### API tokens and webhooks", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the documentation's own code, as a receiver would paste it
    secret = webhooks.add("acme", receiver.url(), [CHANGES]).secret
    assert secret is not None
    webhooks.enqueue("acme", CHANGES, {"cursor": 1}, "evt-1")
    webhooks.deliver_due()
    got = receiver.received[0]
    assert namespace["verify"](secret.reveal(), got.headers["Calsync-Signature"], got.body)
    assert not namespace["verify"](secret.reveal(), got.headers["Calsync-Signature"], got.body[:-1])


# -- one receiver's trouble stays its own ----------------------------------------------------------------------


def test_a_hanging_receiver_delays_only_its_own_events(store: SQLAccessStore, cipher: Cipher) -> None:
    # Why: sent one after another, a hanging receiver's backlog cost a whole timeout per event before any other
    # receiver's event went out; the README promises that a receiver that hangs delays only its own events.
    made = [start_receiver() for _ in range(2)]
    (hanging, _), (healthy, _) = made
    hanging.delay = 2.0
    try:
        webhooks = WebhookService(store, cipher, timeout=0.5, rng=random.Random(1))
        webhooks.add("acme", hanging.url("/slow"), [CHANGES])
        webhooks.add("acme", healthy.url("/fast"), [CHANGES])
        for n in range(6):
            webhooks.enqueue("acme", CHANGES, {"n": n}, f"evt-{n}")
        began = time.monotonic()
        report = webhooks.deliver_due(datetime.now(UTC) + timedelta(seconds=1))
        took = time.monotonic() - began
    finally:
        for started, thread in made:
            started.server.shutdown()
            started.server.server_close()
            thread.join()
    assert len(healthy.received) == 6
    assert (report.delivered, report.retrying) == (6, 1)
    assert took < 1.5
    rows = [r for r in webhooks.deliveries("acme") if "/slow" in r.url]
    assert sorted(r.attempts for r in rows) == [0, 0, 0, 0, 0, 1]  # the rest wait for the next pass, unspent
    assert [r.last_error for r in rows if r.attempts] == ["no answer within 0.5 s"]


def _trickling_receiver(hits: list[float], *, seconds: int = 3, context: ssl.SSLContext | None = None) -> socket.socket:
    """Answers the status line at once, then one header byte every 0.1 s for ``seconds``: every read is quick.
    With ``context``, over TLS (a failed handshake closes the connection)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve(raw: socket.socket) -> None:
        try:
            conn = context.wrap_socket(raw, server_side=True) if context is not None else raw
        except OSError:
            return
        with conn:
            conn.recv(65536)
            hits.append(time.monotonic())
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(seconds * 10):
                    conn.sendall(b"a")
                    time.sleep(0.1)
                conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")
            except OSError:  # the sender hung up: expected
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener


def test_an_attempt_is_cut_off_at_the_timeout_and_keeps_its_lease_meanwhile(url: str, cipher: Cipher) -> None:
    # Why: the timeout bounded each read, not the attempt, so a receiver trickling its answer kept the attempt
    # going past the claim's lease, and a second deliverer sent the same event meanwhile.
    hits: list[float] = []
    listener = _trickling_receiver(hits)
    stores = [open_access_store(url) for _ in range(2)]
    first, second = (WebhookService(s, cipher, timeout=0.5) for s in stores)
    first.add("acme", f"http://127.0.0.1:{listener.getsockname()[1]}/hook", [CHANGES])
    first.enqueue("acme", CHANGES, {}, "evt-1")
    began = time.monotonic()
    runner = threading.Thread(target=first.deliver_due)
    runner.start()
    while not hits and time.monotonic() - began < 5:
        time.sleep(0.01)
    # well past the old lease (the timeout + 30 s) by this deliverer's clock: the attempt still holds the event
    assert second.deliver_due(datetime.now(UTC) + timedelta(seconds=45)).attempts == ()
    runner.join()
    took = time.monotonic() - began
    listener.close()
    [row] = first.deliveries("acme")
    for opened in stores:
        opened.close()
    assert len(hits) == 1
    assert took < 1.5
    assert (row.state, row.last_error) == (DeliveryState.PENDING, "no answer within 0.5 s")


def test_a_retry_waits_from_the_end_of_its_attempt(store: SQLAccessStore, cipher: Cipher, receiver: Receiver) -> None:
    # Why: the wait was counted from the start of the pass, so after earlier attempts of the same pass had taken
    # their time, a retry came sooner than the policy says (or at once).
    clock = Clock()
    webhooks = WebhookService(store, cipher, clock=clock, policy=POLICY, rng=random.Random(3))
    webhooks.add("acme", receiver.url(), [CHANGES])
    receiver.script["/hook"] = [500] * 5
    for n in range(5):
        webhooks.enqueue("acme", CHANGES, {"n": n}, f"evt-{n}")
    ended: list[datetime] = []
    attempt = webhooks._attempt

    def slow_attempt(*args: Any) -> Any:
        clock.now += timedelta(seconds=10)  # every attempt takes 10 s by the service's clock
        ended.append(clock.now)
        return attempt(*args)

    webhooks._attempt = slow_attempt  # type: ignore[method-assign]
    assert webhooks.deliver_due(T0).retrying == 5
    rows = sorted(webhooks.deliveries("acme"), key=lambda r: r.id)
    waits = [row.next_attempt_at - at for row, at in zip(rows, ended, strict=True)]
    assert all(POLICY.base / 2 <= wait <= POLICY.base for wait in waits), waits


def test_an_https_attempt_is_cut_off_at_the_timeout_too(store: SQLAccessStore, cipher: Cipher, tmp_path: Path) -> None:
    """Over https the TLS socket takes the TCP one's descriptor: shutting the TCP one down did nothing."""
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.certificate, pki.key)
    hits: list[float] = []
    listener = _trickling_receiver(hits, seconds=4, context=context)
    webhooks = WebhookService(store, cipher, timeout=0.5, verify=ssl.create_default_context(cafile=pki.ca))
    webhooks.add("acme", f"https://127.0.0.1:{listener.getsockname()[1]}/hook", [EventType.CHANGES])
    webhooks.enqueue("acme", EventType.CHANGES, {}, "evt-1")
    began = time.monotonic()
    webhooks.deliver_due(datetime.now(UTC) + timedelta(seconds=1))
    took = time.monotonic() - began
    listener.close()
    assert len(hits) == 1
    assert took < 1.5, f"attempt with timeout 0.5 s took {took:.1f} s"


def test_a_failure_recording_one_event_does_not_send_the_others_again(store: SQLAccessStore, cipher: Cipher) -> None:
    """An error leaving a pass (a database blip while recording) must not leave the other attempts unrecorded."""
    made = [start_receiver() for _ in range(2)]
    (fast, _), (slow, _) = made
    slow.delay = 0.5
    try:
        webhooks = WebhookService(store, cipher, timeout=5, rng=random.Random(1))
        webhooks.add("acme", fast.url("/fast"), [EventType.CHANGES])
        webhooks.add("acme", slow.url("/slow"), [EventType.CHANGES])
        webhooks.enqueue("acme", EventType.CHANGES, {"n": 1}, "evt-1")
        finish = store.finish
        calls = []

        def flaky_finish(claim: Claim, result: DeliveryResult) -> bool:
            calls.append(claim)
            if len(calls) == 1:
                raise StateError("the database went away for a moment")
            return finish(claim, result)

        store.finish = flaky_finish  # type: ignore[method-assign]
        now = datetime.now(UTC) + timedelta(seconds=1)
        with pytest.raises(StateError):
            webhooks.deliver_due(now)
        store.finish = finish  # type: ignore[method-assign]
        # the next pass, after the leases ran out
        webhooks.deliver_due(now + timedelta(minutes=10))
    finally:
        for started, thread in made:
            started.server.shutdown()
            started.server.server_close()
            thread.join()
    assert len(slow.received) == 1, f"/slow got the same event {len(slow.received)} times"
