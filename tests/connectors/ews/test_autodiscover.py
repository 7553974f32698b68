"""Autodiscover through the SOAP service (GetUserSettings) of the fake Exchange, cached in the cache the
connector is given, never in exchangelib's shared file."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.ews.cache import Discovered, MemoryAutodiscoverCache, cache_key
from calsync.connectors.ews.connector import EwsConnector
from calsync.connectors.ews.settings import EwsSettings
from calsync.errors import ConfigError, NotFound, Unavailable
from tests.connectors.ews.conftest import SERVICE, new_mailbox, settings_for
from tests.connectors.ews.fake.server import FakeEws


def _settings(fake: FakeEws, **options: object) -> EwsSettings:
    values: dict[str, object] = {"url": "", "autodiscover_email": SERVICE, "autodiscover_url": fake.autodiscover_url}
    return settings_for(fake, **(values | options))


def test_the_endpoint_is_discovered_once_and_cached(fake: FakeEws) -> None:
    cache = MemoryAutodiscoverCache()
    mailbox = new_mailbox(fake)
    before = len(fake.autodiscovered)
    first = EwsConnector(settings=_settings(fake, version=""), mailboxes=[mailbox], cache=cache)
    assert first.list(mailbox, None) == []
    found = cache.get(cache_key(SERVICE, SERVICE))
    assert found is not None and found.ews_url == fake.ews_url and found.build.startswith("15.")
    second = EwsConnector(settings=_settings(fake, version=""), mailboxes=[mailbox], cache=cache)
    assert second.list(mailbox, None) == []
    assert len(fake.autodiscovered) - before == 1


def test_a_cached_endpoint_is_used_without_asking(fake: FakeEws) -> None:
    cache = MemoryAutodiscoverCache()
    cache.put(cache_key(SERVICE, SERVICE), Discovered(fake.ews_url, "15.1.2507.6"))
    mailbox = new_mailbox(fake)
    before = len(fake.autodiscovered)
    conn = EwsConnector(settings=_settings(fake, autodiscover_url="https://127.0.0.1:9/none"), cache=cache)
    assert conn.list(mailbox, None) == []
    assert len(fake.autodiscovered) == before


def test_an_unknown_address_is_not_discovered(fake: FakeEws) -> None:
    conn = EwsConnector(settings=_settings(fake, autodiscover_email="nobody@contoso.com"), mailboxes=["x@contoso.com"])
    with pytest.raises(NotFound, match="ErrorNonExistentMailbox"):
        conn.list("x@contoso.com", None)


def test_no_autodiscover_service_is_unavailable(fake: FakeEws) -> None:
    conn = EwsConnector(settings=_settings(fake, autodiscover_url="https://127.0.0.1:9/autodiscover/autodiscover.svc"))
    with pytest.raises(Unavailable, match="autodiscover found no EWS endpoint"):
        conn.list("x@contoso.com", None)


def test_a_down_level_user_name_is_refused(connect: Callable[..., EwsConnector]) -> None:
    with pytest.raises(ConfigError, match="user principal name"):
        connect(username="CONTOSO\\svc-calsync")
