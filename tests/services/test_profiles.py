"""Integration profiles: export to JSON with secrets sealed by a passphrase, import re-encrypts with the target key."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from calsync.crypto import PassphraseKey, Secret
from calsync.errors import ConfigError
from calsync.model.users import UserOptions
from calsync.services.integrations import IntegrationInput, IntegrationService, UserPatch
from calsync.services.profiles import export_profile, import_profile, read_profile, write_profile
from tests.services.test_integrations import CLIENT_SECRET, EWS, GRAPH, NOW, PASSWORD, make_service, pem_file

PASSPHRASE = Secret("a long passphrase")


@pytest.fixture
def source(tmp_path: Path) -> Iterator[IntegrationService]:
    yield from make_service(str(tmp_path / "source.db"))


@pytest.fixture
def target(tmp_path: Path) -> Iterator[IntegrationService]:
    yield from make_service(str(tmp_path / "target.db"))


def test_a_profile_round_trips_with_its_users_and_secrets(
    source: IntegrationService, target: IntegrationService, tmp_path: Path
) -> None:
    ca = str(pem_file(tmp_path / "company-ca.pem"))
    source.add(replace(EWS, department="Service", start_of_sync=NOW, task_activity="Call", ca_bundle=ca))
    source.add_user("acme", "anna", "anna@acme.com")
    source.add_user("acme", "bob", "bob@acme.com")
    source.update_user("acme", "bob", UserPatch(contacts=False, tasks=False))
    path = tmp_path / "acme.json"
    write_profile(path, export_profile(source, "acme", PASSPHRASE))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD not in path.read_text()

    view = import_profile(target, read_profile(path), PASSPHRASE, where=str(path))
    assert view == source.get("acme") and view.ca_bundle == ca
    assert target.credentials("acme").password == Secret(PASSWORD)
    assert [(u.business_user, u.flags) for u in target.users("acme")] == [
        ("anna", UserOptions()),
        ("bob", UserOptions(contacts=False, tasks=False)),
    ]


def resigned(document: dict[str, Any], passphrase: Secret = PASSPHRASE) -> dict[str, Any]:
    """``document`` with its ``mac`` made again, as a file changed by someone who knows the passphrase."""
    if "kdf" not in document:
        return document
    body = {k: v for k, v in document.items() if k != "mac"}
    key = PassphraseKey(passphrase, base64.b64decode(document["kdf"]["salt"]))
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return body | {"mac": key.sign(canonical)}


def test_a_profile_written_before_ca_bundles_imports_trusting_the_system_cas(
    source: IntegrationService, target: IntegrationService
) -> None:
    source.add(EWS)
    document = export_profile(source, "acme", PASSPHRASE)
    del document["integration"]["ca_bundle"]
    document = resigned(document)
    assert import_profile(target, document, PASSPHRASE, where="acme.json").ca_bundle == ""


def test_secrets_are_resealed_under_each_passphrase_and_key(source: IntegrationService) -> None:
    source.add(GRAPH)
    first = export_profile(source, "contoso", PASSPHRASE)
    second = export_profile(source, "contoso", PASSPHRASE)
    assert first["secrets"]["client_secret"] != second["secrets"]["client_secret"]  # a new salt each time
    assert CLIENT_SECRET not in json.dumps(first)


def test_a_wrong_passphrase_imports_nothing(source: IntegrationService, target: IntegrationService) -> None:
    source.add(EWS)
    document = export_profile(source, "acme", PASSPHRASE)
    with pytest.raises(ConfigError, match="the passphrase is wrong"):
        import_profile(target, document, Secret("not it"), where="acme.json")
    assert target.integrations() == []


@pytest.mark.parametrize(
    "alter",
    [
        lambda d: d["integration"].update(url="https://attacker.example.net/"),
        lambda d: d["users"].append({"business_user": "eve", "mailbox": "eve@example.net"}),
        lambda d: d["users"][0]["options"].update(tasks=False),
        lambda d: d.update(rules={"selection": {"tag": "[all]"}}),
        lambda d: d.pop("mac"),
    ],
)
def test_an_altered_profile_imports_nothing(source: IntegrationService, target: IntegrationService, alter: Any) -> None:
    """Not only the sealed secrets: with the server's address changed, the stored password would go there."""
    source.add(EWS)
    source.add_user("acme", "anna", "anna@acme.com")
    document = export_profile(source, "acme", PASSPHRASE, rules={"selection": {"tag": "[sync]"}})
    alter(document)
    with pytest.raises(ConfigError, match="the passphrase is wrong or the file was altered"):
        import_profile(target, document, PASSPHRASE, where="acme.json")
    assert target.integrations() == []


def test_a_wrong_passphrase_imports_nothing_even_without_secrets(
    source: IntegrationService, target: IntegrationService, tmp_path: Path
) -> None:
    source.add(IntegrationInput("files", "Files", "folder", "delegate", url=str(tmp_path)))
    document = export_profile(source, "files", PASSPHRASE)
    assert document["secrets"] == {}
    with pytest.raises(ConfigError, match="the passphrase is wrong"):
        import_profile(target, document, Secret("not it"), where="p.json")
    assert target.integrations() == []
    assert import_profile(target, document, PASSPHRASE, where="p.json").name == "files"


def test_a_profile_of_the_first_format_is_refused_with_what_to_do(
    source: IntegrationService, target: IntegrationService
) -> None:
    """Version 1 authenticated only its secrets: importing one would trust fields anyone could have changed."""
    source.add(EWS)
    document = export_profile(source, "acme", PASSPHRASE)
    document["version"] = 1
    del document["mac"]
    with pytest.raises(ConfigError, match="export it again"):
        import_profile(target, document, PASSPHRASE, where="acme.json")
    assert target.integrations() == []


def test_importing_a_name_that_exists_is_refused(source: IntegrationService) -> None:
    source.add(EWS)
    document = export_profile(source, "acme", PASSPHRASE)
    with pytest.raises(ConfigError, match="already exists"):
        import_profile(source, document, PASSPHRASE, where="acme.json")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: {"format": "other"}, "not a calsync integration profile"),
        (lambda d: d | {"kdf": d["kdf"] | {"n": 2}}, "unsupported key derivation"),
        (lambda d: d | {"secrets": {"token": "x"}}, "may only hold"),
        (lambda d: d | {"integration": d["integration"] | {"colour": "red"}}, r"malformed \(\['colour'\]\)"),
        (lambda d: d | {"integration": d["integration"] | {"start_of_sync": "soon"}}, "not an ISO date"),
        (lambda d: d | {"users": {"anna": 1}}, "must be a list"),
        (lambda d: d | {"users": [{"mailbox": "a@b.com"}]}, "user entry is malformed"),
    ],
)
def test_a_malformed_profile_is_a_config_error_naming_the_file(
    source: IntegrationService, target: IntegrationService, mangle: Any, message: str
) -> None:
    source.add(replace(EWS, start_of_sync=NOW))
    document = resigned(mangle(export_profile(source, "acme", PASSPHRASE)))
    with pytest.raises(ConfigError, match=message) as caught:
        import_profile(target, document, PASSPHRASE, where="acme.json")
    assert caught.value.where == "acme.json"
    assert target.integrations() == []


def test_unreadable_and_non_json_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the profile"):
        read_profile(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        read_profile(tmp_path / "bad.json")


def test_a_profile_whose_user_is_refused_leaves_nothing_behind(
    source: IntegrationService, target: IntegrationService
) -> None:
    source.add(EWS)
    source.add_user("acme", "anna", "anna@acme.com")
    document = export_profile(source, "acme", PASSPHRASE)
    document["users"][0]["mailbox"] = "not-a-mailbox"
    document = resigned(document)
    with pytest.raises(ConfigError, match="not an e-mail address"):
        import_profile(target, document, PASSPHRASE, where="acme.json")
    assert target.integrations() == []
