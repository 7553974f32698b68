"""The admin commands through Typer's runner: integrations, users, profiles and key rotation; never a secret shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from calsync.cli.app import app
from calsync.crypto import KEY_ENV, KEY_FILE_NAME
from tests.services.test_integrations import pem_file

PASSWORD = "cli-pa55word-never-printed"
CLIENT_SECRET = "cli-client-secret-never-printed"
PASSPHRASE = "cli passphrase never printed"
SECRETS = (PASSWORD, CLIENT_SECRET, PASSPHRASE)
EWS = ["--company", "ACME", "--type", "ews", "--auth", "impersonation", "--url", "https://ews.acme.com/EWS/x.asmx"]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "calsync.toml"
    path.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n', encoding="utf-8")
    return path


def run(config: Path, *args: str, prompt: str | None = None, debug: bool = False) -> Result:
    """Run ``calsync`` and check that no secret reached its output (``debug`` adds the debug log lines)."""
    env = {"COLUMNS": "160", "CALSYNC_CONFIG": str(config), "PW": PASSWORD, "CS": CLIENT_SECRET, "PP": PASSPHRASE}
    result = CliRunner().invoke(
        app, ["--debug", *args] if debug else list(args), env=env, input=prompt, catch_exceptions=False
    )
    for secret in SECRETS:
        assert secret not in result.output, args
    return result


def add_acme(config: Path) -> None:
    args = ("integrations", "add", "acme", *EWS, "--username", "svc@acme.com", "--password-env", "PW")
    result = run(config, *args, debug=True)
    assert result.exit_code == 0, result.output
    assert "Added integration acme." in result.output
    assert "INFO calsync.services.integrations: added integration acme" in result.output  # the log is checked too


def test_add_list_show_update_remove_an_integration(config: Path) -> None:
    add_acme(config)
    listed = run(config, "integrations", "list")
    assert "acme" in listed.output
    assert "password set" in listed.output
    updated = run(config, "integrations", "update", "acme", "--one-way", "--days-back", "10", "--department", "Field")
    assert updated.exit_code == 0, updated.output
    shown = run(config, "integrations", "show", "acme")
    assert "two_way                no" in shown.output
    assert "days_back              10" in shown.output
    assert "has_password           yes" in shown.output
    assert run(config, "integrations", "remove", "acme").exit_code == 0
    assert "No integrations yet" in run(config, "integrations", "list").output
    assert (config.parent / KEY_FILE_NAME).exists()


def shown_setting(config: Path, name: str) -> str:
    """One setting's value as ``integrations show acme`` prints it."""
    for line in run(config, "integrations", "show", "acme").output.splitlines():
        words = line.split()
        if words[:1] == [name]:
            return " ".join(words[1:])
    raise AssertionError(f"{name} is not shown")


def test_a_ca_bundle_is_given_relative_to_the_shell_shown_and_cleared(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem_file(tmp_path / "company-ca.pem")
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    monkeypatch.chdir(tmp_path)
    add_acme(config)
    assert run(config, "integrations", "update", "acme", "--ca-bundle", "company-ca.pem").exit_code == 0
    assert shown_setting(config, "ca_bundle") == str(tmp_path / "company-ca.pem")
    refused = run(config, "integrations", "update", "acme", "--ca-bundle", "notes.txt")
    assert refused.exit_code == 1
    assert f"error: ca_bundle: {tmp_path / 'notes.txt'} holds no PEM certificate" in refused.output
    assert run(config, "integrations", "update", "acme", "--ca-bundle", "").exit_code == 0
    assert shown_setting(config, "ca_bundle") == ""


def test_a_rule_broken_on_the_command_line_is_one_red_line_naming_the_field(config: Path) -> None:
    result = run(config, "integrations", "add", "acme", *EWS, "--username", "u", "--password-env", "PW",
                 "--interval-minutes", "0")  # fmt: skip
    assert result.exit_code == 1
    assert "error: interval_minutes: must be at least 1, not 0" in result.output
    missing = run(config, "integrations", "add", "acme", *EWS, "--username", "u", "--password-env", "UNSET_VAR")
    assert "error: UNSET_VAR: the environment variable is not set or empty" in missing.output


def test_the_password_is_asked_for_hidden_when_not_given(config: Path) -> None:
    result = run(config, "integrations", "add", "acme", *EWS, "--username", "u", prompt=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password (hidden)" in result.output
    assert "password set" in run(config, "integrations", "list").output


def test_secrets_from_files_and_an_oauth_integration(config: Path, tmp_path: Path) -> None:
    (tmp_path / "cs").write_text(CLIENT_SECRET + "\n")
    graph = ("--company", "C", "--type", "graph", "--auth", "oauth", "--client-id", "cid", "--tenant-id", "contoso.com")
    result = run(
        config, "integrations", "add", "m365", *graph[:4], *graph[6:], "--client-secret-file", str(tmp_path / "cs")
    )
    assert result.exit_code == 0, result.output
    assert "client secret set" in run(config, "integrations", "list").output
    both = run(config, "integrations", "update", "m365", "--client-secret-env", "CS", "--client-secret-file", "x")
    assert "not both" in both.output


def test_users_add_list_update_remove(config: Path) -> None:
    add_acme(config)
    added = run(config, "users", "add", "anna", "--integration", "acme", "--mailbox", "anna@acme.com")
    assert "every option on" in added.output
    assert run(config, "users", "update", "anna", "-i", "acme", "--no-tasks", "--no-contacts").exit_code == 0
    listed = run(config, "users", "list", "--integration", "acme")
    row = next(line for line in listed.output.splitlines() if "anna" in line)
    assert row.split()[2:] == ["yes", "yes", "yes", "yes", "no", "yes", "yes", "yes", "no"]
    bad = run(config, "users", "add", "bob", "-i", "acme", "--mailbox", "bob")
    assert "error: users.mailbox: 'bob' is not an e-mail address" in bad.output
    assert run(config, "users", "remove", "anna", "-i", "acme").exit_code == 0
    assert "has no users yet" in run(config, "users", "list", "-i", "acme").output


def test_export_and_import_a_profile(config: Path, tmp_path: Path) -> None:
    add_acme(config)
    run(config, "users", "add", "anna", "-i", "acme", "--mailbox", "anna@acme.com")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"selection": {"tag": "[sync]"}, "mapping": {"marker": "From ERP"}}))
    assert run(config, "rules", "acme", "--set", str(rules)).exit_code == 0
    profile = tmp_path / "acme.json"
    exported = run(config, "export-profile", "acme", "--file", str(profile), prompt=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    assert exported.exit_code == 0, exported.output
    assert PASSWORD not in profile.read_text()
    assert json.loads(profile.read_text())["users"][0]["mailbox"] == "anna@acme.com"
    run(config, "integrations", "remove", "acme")
    wrong = run(config, "import-profile", "--file", str(profile), prompt="guess\n")
    assert "the passphrase is wrong" in wrong.output
    imported = run(config, "import-profile", "--file", str(profile), "--passphrase-env", "PP")
    assert imported.exit_code == 0, imported.output
    assert "anna@acme.com" in run(config, "integrations", "show", "acme").output
    shown = json.loads(run(config, "rules", "acme").output)
    assert shown["selection"]["tag"] == "[sync]" and shown["mapping"]["marker"] == "From ERP"


def test_rotate_key_keeps_the_secrets_readable(config: Path, tmp_path: Path) -> None:
    add_acme(config)
    old = (config.parent / KEY_FILE_NAME).read_text()
    rotated = run(config, "rotate-key")
    assert "Re-encrypted 1 secrets" in rotated.output
    assert (config.parent / KEY_FILE_NAME).read_text() != old
    exported = run(config, "export-profile", "acme", "--file", str(tmp_path / "p.json"), "--passphrase-env", "PP")
    assert exported.exit_code == 0, exported.output


def test_a_wrong_key_is_one_clear_line(config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    add_acme(config)
    monkeypatch.setenv(KEY_ENV, "bm90LWEtdmFsaWQta2V5")
    result = run(config, "integrations", "list")
    assert result.exit_code == 1
    assert f"error: {KEY_ENV}: not a valid secret key" in result.output
    (config.parent / KEY_FILE_NAME).write_text("Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=\n")
    monkeypatch.delenv(KEY_ENV)
    failed = run(config, "export-profile", "acme", "--file", str(tmp_path / "p.json"), "--passphrase-env", "PP")
    assert "a stored secret cannot be decrypted" in failed.output


def test_the_cli_log_handler_masks_secrets(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_acme(config)  # registers the password as a secret of this process
    logging.getLogger("calsync.services.integrations").error("server refused %s", PASSWORD)
    err = capsys.readouterr().err
    assert "server refused ***" in err
    assert PASSWORD not in err
