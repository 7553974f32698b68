"""The pure parts of the EWS session: versions, credentials and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from exchangelib import Credentials, OAuth2Credentials

from calsync.connectors.ews.session import credentials, retry_after, version_of
from calsync.connectors.ews.settings import EwsSettings, Logon
from calsync.errors import ConfigError


def test_versions_are_read_from_short_and_full_builds() -> None:
    assert version_of("") is None
    full = version_of("15.1.2507.6")
    assert full is not None and (full.build.major_version, full.build.minor_build) == (15, 6)
    short = version_of("15.2")
    assert short is not None and (short.build.major_version, short.build.minor_version) == (15, 2)
    with pytest.raises(ConfigError):
        version_of("Exchange2016")


def test_credentials_are_a_upn_and_password_or_client_credentials() -> None:
    basic = credentials(EwsSettings(username="svc@contoso.com", password="pw"))
    assert isinstance(basic, Credentials) and basic.username == "svc@contoso.com"
    assert "pw" not in repr(basic) and "pw" not in repr(EwsSettings(username="svc@contoso.com", password="pw"))
    oauth = credentials(
        EwsSettings(username="", logon=Logon.OAUTH2, client_id="app", client_secret="s3cr3t", tenant_id="contoso.com")
    )
    assert isinstance(oauth, OAuth2Credentials) and oauth.client_id == "app"


def test_retry_after_takes_seconds_or_a_date_and_doubles_without_one() -> None:
    assert retry_after("7", 1) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(later, 1) <= 30
    assert (retry_after(None, 1), retry_after("soon", 3), retry_after(None, 9)) == (2.0, 8.0, 30.0)
