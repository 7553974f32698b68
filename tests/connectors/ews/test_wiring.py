"""From a configuration file to synced items: an ``ews`` connection (impersonation, explicit version, a CA
bundle) built by the services, one pair synced from a folder to a mailbox on the fake and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.config import load_settings
from calsync.config.model import EwsConnection, EwsLogon
from calsync.connectors.ews.connector import EwsConnector
from calsync.services.syncing import build_pair_specs, sync_pairs
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import PASSWORD, SERVICE, new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import event

CONFIG = """
[state]
url = "sqlite:///{state}"

[[connections]]
name = "business"
type = "folder"
path = "{business}"

[[connections]]
name = "exchange"
type = "ews"
url = "{url}"
auth = "impersonation"
username = "{user}"
password_env = "CALSYNC_TEST_EWS_PASSWORD"
version = "15.1.2507.6"
ca_bundle = "{ca}"
timezone = "Europe/Berlin"
timeout = 5

[[pairs]]
name = "anna"
a = "business:anna"
b = "exchange:{mailbox}"
mode = "two-way"
window = "all"
"""


def test_a_configured_ews_pair_syncs_both_ways(fake: FakeEws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox = new_mailbox(fake)
    (tmp_path / "business" / "anna").mkdir(parents=True)
    (tmp_path / "business" / "anna" / "visit-1.ics").write_text(event("visit-1", "Boiler service"))
    config = tmp_path / "calsync.toml"
    config.write_text(
        CONFIG.format(
            state=tmp_path / "state.db",
            business=tmp_path / "business",
            url=fake.ews_url,
            user=SERVICE,
            ca=fake.pki.ca_file,
            mailbox=mailbox,
        )
    )
    monkeypatch.setenv("CALSYNC_TEST_EWS_PASSWORD", PASSWORD)
    settings = load_settings(config)
    exchange = settings.connection("exchange")
    assert isinstance(exchange, EwsConnection) and exchange.logon is EwsLogon.BASIC
    (spec,) = build_pair_specs(settings)
    assert isinstance(spec.b.connector, EwsConnector)

    (outcome,) = sync_pairs(settings, dry_run=False, full=False, allow_mass_delete=False)
    assert not outcome.failed, outcome.message
    (stored,) = fake.store.live(mailbox, "calendar")
    assert stored.value("Subject") == "Boiler service"

    outlook.put(fake, mailbox, stored.id, event("visit-1", "Boiler service (moved)"))
    (outcome,) = sync_pairs(settings, dry_run=False, full=False, allow_mass_delete=False)
    assert not outcome.failed, outcome.message
    assert "Boiler service (moved)" in (tmp_path / "business" / "anna" / "visit-1.ics").read_text()
    (again,) = sync_pairs(settings, dry_run=False, full=False, allow_mass_delete=False)
    assert again.report is not None and again.report.writes == 0
