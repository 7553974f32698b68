"""The AccessStore on SQLite and PostgreSQL: tokens, subscriptions, the outbox, claims and leases, cascades."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from calsync.errors import StateError
from calsync.state.access import SQLAccessStore, open_access_store
from calsync.state.access_port import DeliveryResult, DeliveryState, SubscriptionRecord, TokenRecord
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord
from tests.state.conftest import Backend

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def access(backend: Backend) -> Iterator[SQLAccessStore]:
    admin = open_admin_store(backend.url)
    for name in ("acme", "beta"):
        admin.add_integration(IntegrationRecord(name, name.upper(), "caldav", "delegate"))
    admin.close()
    opened = open_access_store(backend.url)
    yield opened
    opened.close()


def token(name: str = "erp", integration: str = "acme", digest: str = "a" * 64) -> TokenRecord:
    return TokenRecord(integration, name, f"cs_{name[:8]:0<8}", digest, T0)


def subscribe(access: SQLAccessStore, url: str, events: tuple[str, ...] = ("changes.available",)) -> int:
    stored = access.add_subscription(SubscriptionRecord("acme", url, "ciphertext", events, T0))
    assert stored is not None
    return stored.id


def test_a_token_round_trips_and_is_found_by_its_hash_only(access: SQLAccessStore) -> None:
    stored = access.add_token(token())
    assert stored is not None
    assert stored.id > 0
    assert stored == TokenRecord("acme", "erp", "cs_erp00000", "a" * 64, T0, id=stored.id)
    assert access.token_by_hash("a" * 64) == stored
    assert access.token_by_hash("b" * 64) is None
    assert access.tokens("acme") == [stored]
    assert access.tokens("beta") == []
    assert access.add_token(token(integration="nobody")) is None


def test_token_names_and_hashes_are_unique(access: SQLAccessStore) -> None:
    access.add_token(token())
    with pytest.raises(StateError):
        access.add_token(token(digest="b" * 64))
    with pytest.raises(StateError):
        access.add_token(token("other"))
    assert access.add_token(token(integration="beta", digest="c" * 64)) is not None  # same name, other integration


def test_revoke_by_name_or_prefix_and_only_live_tokens(access: SQLAccessStore) -> None:
    access.add_token(token("erp"))
    access.add_token(token("shop", digest="b" * 64))
    assert access.revoke_tokens("acme", "erp", T0) == 1
    assert access.revoke_tokens("acme", "erp", T0) == 0
    assert access.revoke_tokens("acme", "cs_shop0000", T0 + MINUTE) == 1
    assert access.revoke_tokens("nobody", "erp", T0) == 0
    assert [t.revoked_at for t in access.tokens("acme")] == [T0, T0 + MINUTE]


def test_touch_writes_at_most_once_a_minute(access: SQLAccessStore) -> None:
    stored = access.add_token(token())
    assert stored is not None
    assert access.touch_token(stored.id, T0, T0 - MINUTE)
    assert not access.touch_token(stored.id, T0 + timedelta(seconds=30), T0 + timedelta(seconds=30) - MINUTE)
    assert access.touch_token(stored.id, T0 + 2 * MINUTE, T0 + MINUTE)
    assert access.tokens("acme")[0].last_used_at == T0 + 2 * MINUTE


def test_a_removed_integration_takes_its_tokens_and_webhooks(backend: Backend, access: SQLAccessStore) -> None:
    access.add_token(token())
    subscribe(access, "https://erp.example/hook")
    assert access.enqueue("acme", "e1", "changes.available", "{}", T0) == 1
    admin = open_admin_store(backend.url)
    assert admin.remove_integration("acme")
    admin.close()
    assert access.token_by_hash("a" * 64) is None
    assert backend.scalar("SELECT count(*) FROM webhook_outbox") == 0
    assert backend.scalar("SELECT count(*) FROM webhook_subscriptions") == 0


def test_subscriptions_round_trip_and_a_url_is_taken_once(access: SQLAccessStore) -> None:
    first = subscribe(access, "https://erp.example/hook", ("changes.available", "ping"))
    [stored] = access.subscriptions("acme")
    assert stored == SubscriptionRecord(
        "acme", "https://erp.example/hook", "ciphertext", ("changes.available", "ping"), T0, id=first
    )
    with pytest.raises(StateError):
        subscribe(access, "https://erp.example/hook")
    assert access.add_subscription(SubscriptionRecord("nobody", "https://x", "c", (), T0)) is None
    assert not access.remove_subscription("beta", first)
    assert access.remove_subscription("acme", first)
    assert access.subscriptions("acme") == []


def test_enqueue_fans_out_by_event_type_and_is_idempotent(access: SQLAccessStore) -> None:
    subscribe(access, "https://a.example/", ("changes.available",))
    subscribe(access, "https://b.example/", ("changes.available", "ping"))
    assert access.enqueue("acme", "e1", "changes.available", '{"n":1}', T0) == 2
    assert access.enqueue("acme", "e1", "changes.available", '{"n":2}', T0) == 0
    assert access.enqueue("acme", "p1", "ping", "{}", T0) == 1
    assert access.enqueue("beta", "e1", "changes.available", "{}", T0) == 0
    rows = access.deliveries("acme")
    assert [(r.url, r.event_id, r.state, r.attempts) for r in rows] == [
        ("https://a.example/", "e1", DeliveryState.PENDING, 0),
        ("https://b.example/", "e1", DeliveryState.PENDING, 0),
        ("https://b.example/", "p1", DeliveryState.PENDING, 0),
    ]


def test_a_claim_leases_one_due_row_and_counts_the_attempt(access: SQLAccessStore) -> None:
    subscribe(access, "https://a.example/")
    access.enqueue("acme", "e1", "changes.available", '{"n":1}', T0)
    access.enqueue("acme", "e2", "changes.available", "{}", T0 + MINUTE)
    assert access.claim_due(T0 - MINUTE, "early", T0) is None  # nothing due yet
    claim = access.claim_due(T0, "one", T0 + MINUTE)
    assert claim is not None
    got = (claim.delivery.event_id, claim.delivery.attempts, claim.body, claim.secret_enc)
    assert got == ("e1", 1, '{"n":1}', "ciphertext")
    assert access.claim_due(T0, "two", T0 + MINUTE) is None  # e1 is leased, e2 not due
    later = access.claim_due(T0 + 2 * MINUTE, "three", T0 + 3 * MINUTE)  # e1's lease has run out: e1 again
    assert later is not None
    assert (later.delivery.event_id, later.delivery.attempts) == ("e1", 2)
    assert not access.finish(claim, DeliveryResult(DeliveryState.DELIVERED, T0, 200))  # lease lost: no overwrite
    assert access.finish(later, DeliveryResult(DeliveryState.DELIVERED, T0 + 2 * MINUTE, 204))
    [e1, _] = access.deliveries("acme")
    assert (e1.state, e1.last_status, e1.finished_at) == (DeliveryState.DELIVERED, 204, T0 + 2 * MINUTE)


def test_a_retry_is_due_at_its_time_and_a_dead_letter_can_be_requeued(access: SQLAccessStore) -> None:
    subscribe(access, "https://a.example/")
    access.enqueue("acme", "e1", "changes.available", "{}", T0)
    claim = access.claim_due(T0, "one", T0 + MINUTE)
    assert claim is not None
    access.finish(claim, DeliveryResult(DeliveryState.PENDING, T0, 500, "HTTP 500", T0 + 5 * MINUTE))
    assert access.claim_due(T0 + 4 * MINUTE, "two", T0 + 9 * MINUTE) is None
    again = access.claim_due(T0 + 5 * MINUTE, "two", T0 + 9 * MINUTE)
    assert again is not None
    access.finish(again, DeliveryResult(DeliveryState.FAILED, T0 + 5 * MINUTE, 500, "HTTP 500"))
    [dead] = access.deliveries("acme", DeliveryState.FAILED)
    assert (dead.attempts, dead.last_error) == (2, "HTTP 500")
    assert access.requeue("acme", dead.id + 1, T0) == 0
    assert access.requeue("acme", dead.id, T0 + 6 * MINUTE) == 1
    [back] = access.deliveries("acme", DeliveryState.PENDING)
    assert (back.attempts, back.next_attempt_at, back.finished_at) == (0, T0 + 6 * MINUTE, None)


def test_410_disables_the_subscription_and_fails_its_queue(access: SQLAccessStore) -> None:
    gone = subscribe(access, "https://gone.example/")
    subscribe(access, "https://live.example/")
    access.enqueue("acme", "e1", "changes.available", "{}", T0)
    access.enqueue("acme", "e2", "changes.available", "{}", T0 + MINUTE)
    claim = access.claim_due(T0, "one", T0 + MINUTE)
    assert claim is not None
    assert claim.delivery.subscription_id == gone
    access.finish(claim, DeliveryResult(DeliveryState.FAILED, T0, 410, "410 Gone", disable_subscription=True))
    disabled = next(s for s in access.subscriptions("acme") if s.id == gone)
    assert (disabled.disabled_at, disabled.disabled_reason) == (T0, "the receiver answered 410 Gone")
    states = {(d.url, d.event_id): d.state for d in access.deliveries("acme")}
    assert states[("https://gone.example/", "e2")] is DeliveryState.FAILED
    assert states[("https://live.example/", "e2")] is DeliveryState.PENDING
    assert access.enqueue("acme", "e3", "changes.available", "{}", T0) == 1  # only the live one
    assert access.requeue("acme", None, T0) == 0  # a disabled subscription's dead letters stay
    claimed = [access.claim_due(T0 + 2 * MINUTE, f"o{i}", T0 + 3 * MINUTE) for i in range(4)]
    assert sorted(c.delivery.url for c in claimed if c is not None) == ["https://live.example/"] * 3


def test_concurrent_claims_never_share_a_row(backend: Backend, access: SQLAccessStore) -> None:
    subscribe(access, "https://a.example/")
    for n in range(40):
        access.enqueue("acme", f"e{n}", "changes.available", "{}", T0)
    stores = [open_access_store(backend.url) for _ in range(3)]
    claimed: list[list[str]] = [[] for _ in stores]
    barrier = threading.Barrier(len(stores))

    def drain(index: int) -> None:
        barrier.wait()
        while (claim := stores[index].claim_due(T0, f"owner{index}", T0 + MINUTE)) is not None:
            claimed[index].append(claim.delivery.event_id)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    everything = [event for events in claimed for event in events]
    assert sorted(everything) == sorted(f"e{n}" for n in range(40))


def test_reencrypt_replaces_every_secret_in_one_transaction(access: SQLAccessStore) -> None:
    subscribe(access, "https://a.example/")
    subscribe(access, "https://b.example/")
    assert access.reencrypt(lambda c: c.upper()) == 2
    assert [s.secret_enc for s in access.subscriptions("acme")] == ["CIPHERTEXT", "CIPHERTEXT"]

    def boom(_: str) -> str:
        raise RuntimeError("half-way")

    with pytest.raises(RuntimeError):
        access.reencrypt(boom)
    assert [s.secret_enc for s in access.subscriptions("acme")] == ["CIPHERTEXT", "CIPHERTEXT"]


def test_a_claim_skips_the_subscriptions_asked_to(access: SQLAccessStore) -> None:
    # Why: a deliverer serves each receiver one event at a time and leaves one that did not answer for later
    first = subscribe(access, "https://a.example/")
    second = subscribe(access, "https://b.example/")
    access.enqueue("acme", "e1", "changes.available", "{}", T0)
    claim = access.claim_due(T0, "one", T0 + MINUTE, skip={first})
    assert claim is not None
    assert claim.delivery.subscription_id == second
    assert access.claim_due(T0, "two", T0 + MINUTE, skip={first, second}) is None
