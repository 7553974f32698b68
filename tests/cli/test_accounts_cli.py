"""``calsync admin-user`` through Typer's runner: passwords from a hidden prompt or stdin, never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from calsync.cli.app import app
from calsync.config import Settings, StateSettings
from calsync.services.accounts import SignInOutcome, open_accounts

PASSWORD = "cli admin password never printed"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n', encoding="utf-8")
    return path


def run(config: Path, *args: str, given: str | None = None) -> Result:
    result = CliRunner().invoke(
        app, ["admin-user", *args], env={"CALSYNC_CONFIG": str(config), "COLUMNS": "120"}, input=given
    )
    assert PASSWORD not in result.output
    return result


def signs_in(config: Path, name: str, password: str) -> bool:
    settings = Settings(source=None, state=StateSettings(url=str(config.parent / "state.db")))
    with open_accounts(settings) as accounts:
        return accounts.sign_in(name, password).outcome is SignInOutcome.SIGNED_IN


def test_add_from_a_hidden_prompt_asked_twice_then_list_and_remove(config: Path) -> None:
    added = run(config, "add", "ann", given=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert "Password (hidden)" in added.output
    assert "Repeat for confirmation" in added.output
    assert "Added admin account ann." in added.output
    assert signs_in(config, "ann", PASSWORD)
    assert "ann" in run(config, "list").output
    assert run(config, "remove", "ann").exit_code == 0
    assert "No admin accounts yet" in run(config, "list").output


def test_set_password_from_stdin(config: Path) -> None:
    assert run(config, "add", "ann", "--password-stdin", given=f"{PASSWORD}\n").exit_code == 0
    changed = run(config, "set-password", "ann", "--password-stdin", given=f"{PASSWORD} 2\n")
    assert changed.exit_code == 0, changed.output
    assert signs_in(config, "ann", f"{PASSWORD} 2")
    assert not signs_in(config, "ann", PASSWORD)


def test_errors_are_one_line_naming_the_field(config: Path) -> None:
    short = run(config, "add", "ann", "--password-stdin", given="short\n")
    assert short.exit_code == 1
    assert "error: password: use at least 12 characters" in short.output
    empty = run(config, "add", "ann", "--password-stdin", given="\n")
    assert "error: password: an empty password was given" in empty.output
    missing = run(config, "remove", "nobody")
    assert "error: username: no admin account called 'nobody'" in missing.output


def test_the_password_is_never_an_argument(config: Path) -> None:
    result = run(config, "add", "ann", "--password", PASSWORD)
    assert result.exit_code == 2  # no such option
