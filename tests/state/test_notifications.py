"""The NotificationStore on SQLite and PostgreSQL: Graph subscriptions stored per integration user, replaced,
renewed, asked for renewal and dropped, and gone with their integration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord
from calsync.state.notifications import SQLNotificationStore, open_notification_store
from calsync.state.notifications_port import GraphSubscriptionRecord

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    found = str(tmp_path / "state.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    admin = open_admin_store(found)
    admin.add_integration(IntegrationRecord("m365", "Contoso", "graph", "app"))
    admin.add_integration(IntegrationRecord("other", "Contoso", "graph", "app"))
    admin.close()
    return found


@pytest.fixture
def store(url: str) -> Iterator[SQLNotificationStore]:
    opened = open_notification_store(url)
    yield opened
    opened.close()


def record(
    integration: str, user: str, ident: str, expires: datetime = T0 + timedelta(days=2)
) -> GraphSubscriptionRecord:
    return GraphSubscriptionRecord(
        integration, user, f"{user.lower()}@contoso.example", ident, f"/users/{user.lower()}@contoso.example/events",
        "https://sync.example.com/api/v1/notifications/graph", f"gAAAA-{ident}", expires, T0,
    )  # fmt: skip


def test_subscriptions_are_kept_one_per_user_and_found_by_graphs_id(store: SQLNotificationStore) -> None:
    first, second = record("m365", "T1", "sub-1"), record("other", "T1", "sub-2")
    assert store.put_graph_subscription(first) and store.put_graph_subscription(second)
    assert not store.put_graph_subscription(record("gone", "T1", "sub-3"))
    assert store.graph_subscriptions() == [first, second]
    assert store.graph_subscription("sub-2") == second
    assert store.graph_subscription("sub-9") is None
    # the public callback reads every id of a body at once (one query, not one per notification), in chunks
    assert store.graph_subscriptions_named({"sub-1", "sub-2", "sub-9"}) == {"sub-1": first, "sub-2": second}
    many = {f"made-up-{n}" for n in range(1200)} | {"sub-2"}
    assert store.graph_subscriptions_named(many) == {"sub-2": second}
    assert "gAAAA" not in repr(first)

    moved = replace(first, mailbox="t1b@contoso.example", subscription_id="sub-4")
    assert store.put_graph_subscription(moved)  # the user's subscription replaced, not a second one
    assert store.graph_subscriptions() == [moved, second]
    assert store.graph_subscription("sub-1") is None


def test_renewal_asked_for_then_recorded_and_a_drop(store: SQLNotificationStore) -> None:
    store.put_graph_subscription(record("m365", "T1", "sub-1"))
    assert store.ask_renewal("sub-1") and not store.ask_renewal("sub-9")
    assert store.graph_subscriptions()[0].renew_now
    later = T0 + timedelta(days=3)
    store.note_renewed("sub-1", later)
    found = store.graph_subscriptions()[0]
    assert (found.expires_at, found.renew_now) == (later, False)
    assert store.drop_graph_subscription("sub-1") and not store.drop_graph_subscription("sub-1")
    assert store.graph_subscriptions() == []


def test_subscriptions_go_with_their_integration(store: SQLNotificationStore, url: str) -> None:
    store.put_graph_subscription(record("m365", "T1", "sub-1"))
    store.put_graph_subscription(record("other", "T1", "sub-2"))
    admin = open_admin_store(url)
    admin.remove_integration("m365")
    admin.close()
    assert [r.subscription_id for r in store.graph_subscriptions()] == ["sub-2"]
