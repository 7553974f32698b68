"""A configured CA bundle is honoured end to end: ``calsync sync``'s service syncs a folder into a Radicale that
serves HTTPS with a certificate from a test CA; without ``ca_bundle`` the same sync fails TLS verification,
because TLS is verified by default and the test CA is in no system store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.config import Settings, load_settings
from calsync.connectors.caldav import CalDavConnector
from calsync.errors import TlsFailure
from calsync.services.syncing import PairOutcome, sync_pairs
from tests.connectors.dav.pki import make_pki
from tests.connectors.dav.servers import Server, TlsFiles, radicale
from tests.samples import event


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TlsFiles]]:
    root = tmp_path_factory.mktemp("radicale-tls")
    files = make_pki(root)
    with radicale(root, tls=files) as server:
        yield server, files


def settings(tmp_path: Path, server: Server, ca: Path | None) -> Settings:
    trust = f'ca_bundle = "{ca}"\n' if ca is not None else ""
    text = (
        '[state]\nurl = "state.db"\n\n'
        '[[connections]]\nname = "biz"\ntype = "folder"\npath = "biz"\n\n'
        f'[[connections]]\nname = "dav"\ntype = "caldav"\nurl = "{server.calendar_home}"\n'
        f'username = "{server.username}"\npassword_env = "TLS_TEST_DAV_PASSWORD"\nserver = "radicale"\n{trust}\n'
        '[[pairs]]\nname = "p"\na = "biz:cal"\nb = "dav:tls-cal"\nmode = "two-way"\nwindow = "all"\n'
    )
    (tmp_path / "biz" / "cal").mkdir(parents=True, exist_ok=True)
    (tmp_path / "calsync.toml").write_text(text, encoding="utf-8")
    return load_settings(tmp_path / "calsync.toml", {})


def run(settings: Settings) -> PairOutcome:
    (outcome,) = sync_pairs(settings, dry_run=False, full=False, allow_mass_delete=False)
    return outcome


def test_the_ca_bundle_is_honoured_and_tls_is_verified_without_it(
    tls_server: tuple[Server, TlsFiles], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, files = tls_server
    monkeypatch.setenv("TLS_TEST_DAV_PASSWORD", server.password)
    CalDavConnector(
        server.calendar_home, username=server.username, password=server.password, ca_bundle=files.ca
    ).create_calendar("tls-cal")

    untrusted = run(settings(tmp_path / "untrusted", server, None))
    assert isinstance(untrusted.error, TlsFailure), untrusted.error

    trusted_settings = settings(tmp_path / "trusted", server, files.ca)
    (tmp_path / "trusted" / "biz" / "cal" / "tls1.ics").write_text(event("tls1", "Over TLS"), encoding="utf-8")
    trusted = run(trusted_settings)
    assert trusted.error is None and trusted.report is not None
    assert trusted.report.b.created == 1
    dav = CalDavConnector(server.calendar_home, username=server.username, password=server.password, ca_bundle=files.ca)
    assert len(dav.list("tls-cal", None)) == 1
