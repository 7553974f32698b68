"""``calsync tokens`` and ``calsync webhooks`` through Typer's runner, delivering to a real receiver on loopback; a
token or signing secret is printed once by the command that made it and never again, nor in any log line."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from calsync.cli.app import app
from calsync.config import Settings, StateSettings
from calsync.crypto import KEY_ENV, default_key_file, load_cipher
from calsync.services.access import EventType, RetryPolicy, WebhookService, open_access, verify_signature
from calsync.services.integrations import IntegrationInput, open_integrations
from calsync.state.access import open_access_store
from tests.services.test_access import Receiver, start_receiver

GIVEN_SECRET = "a-given-signing-secret-never-printed"
_TOKEN = re.compile(r"^(cs_[0-9a-f]{8}_\S{43})$", re.MULTILINE)
_SECRET = re.compile(r"^(whsec_\S{43})$", re.MULTILINE)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(KEY_ENV, raising=False)
    config = tmp_path / "calsync.toml"
    config.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n', encoding="utf-8")
    made = Settings(source=config, state=StateSettings(url=str(tmp_path / "state.db")))
    with open_integrations(made) as integrations:
        integrations.add(IntegrationInput("acme", "ACME", "folder", "delegate", url=str(tmp_path)))
    return made


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started, thread = start_receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()
    thread.join()


def run(settings: Settings, *args: str, hidden: tuple[str, ...] = (), debug: bool = True) -> Result:
    """Run ``calsync`` (with ``--debug`` its log lines are in the output too) and check that neither the given
    secret nor any of ``hidden`` reached the output."""
    env = {"COLUMNS": "200", "CALSYNC_CONFIG": str(settings.source), "WHSEC": GIVEN_SECRET}
    result = CliRunner().invoke(app, ["--debug", *args] if debug else list(args), env=env, catch_exceptions=False)
    for secret in (GIVEN_SECRET, *hidden):
        assert secret not in result.output, args
    return result


def test_create_list_and_revoke_a_token(settings: Settings) -> None:
    created = run(settings, "tokens", "create", "erp", "-i", "acme")
    assert created.exit_code == 0, created.output
    assert "Copy it now, it is not shown again" in created.output
    [plain] = _TOKEN.findall(created.output)
    assert created.output.count(plain) == 1
    listed = run(settings, "tokens", "list", "-i", "acme", hidden=(plain,))
    assert "erp" in listed.output
    assert plain[:11] in listed.output  # the prefix
    assert "live" in listed.output
    with open_access(settings) as access:
        assert access.tokens.verify(plain) is not None
    assert run(settings, "tokens", "revoke", plain[:11], "-i", "acme", hidden=(plain,)).exit_code == 0
    assert "revoked" in run(settings, "tokens", "list", "-i", "acme", hidden=(plain,)).output
    with open_access(settings) as access:
        assert access.tokens.verify(plain) is None
    again = run(settings, "tokens", "revoke", "erp", "-i", "acme", debug=False)
    assert again.exit_code == 1
    assert "error: token: acme has no live token 'erp'" in again.output


def test_errors_are_one_line_naming_what_is_wrong(settings: Settings) -> None:
    unknown = run(settings, "tokens", "list", "-i", "nobody", debug=False)
    assert unknown.exit_code == 1
    assert "error: integration: no integration called 'nobody'" in unknown.output
    bad_event = run(settings, "webhooks", "add", "https://x.example/", "-i", "acme", "--event", "all", debug=False)
    assert "error: event 'all': not one of changes.available|job.failed|ping" in bad_event.output
    assert "no API tokens" in run(settings, "tokens", "list", "-i", "acme").output
    assert "no webhooks" in run(settings, "webhooks", "list", "-i", "acme").output
    unset = run(settings, "webhooks", "add", "https://x.example/", "-i", "acme", "--secret-env", "UNSET", debug=False)
    assert "error: UNSET: the environment variable is not set or empty" in unset.output


def test_a_webhook_is_added_with_its_secret_shown_once_and_delivers_signed(
    settings: Settings, receiver: Receiver
) -> None:
    added = run(settings, "webhooks", "add", receiver.url(), "-i", "acme", "--event", "changes.available")
    assert added.exit_code == 0, added.output
    assert "Added webhook 1 of acme" in added.output
    [secret] = _SECRET.findall(added.output)
    listed = run(settings, "webhooks", "list", "-i", "acme", hidden=(secret,))
    assert receiver.url() in listed.output
    assert "active" in listed.output
    with open_access(settings) as access:
        access.webhooks.enqueue("acme", EventType.CHANGES, {"cursor": 7}, "evt-1")
    delivered = run(settings, "webhooks", "deliver", hidden=(secret,))
    assert "Delivered 1, retrying 0, failed 0" in delivered.output
    assert "INFO calsync.services.webhooks: delivered event evt-1 to webhook 1" in delivered.output
    got = receiver.received[0]
    assert verify_signature(secret, got.headers["Calsync-Signature"], got.body, time.time())
    assert run(settings, "webhooks", "remove", "1", "-i", "acme").exit_code == 0
    assert "no webhook 1" in run(settings, "webhooks", "remove", "1", "-i", "acme", debug=False).output


def test_dead_letters_are_listed_and_retried(settings: Settings, receiver: Receiver) -> None:
    added = run(settings, "webhooks", "add", receiver.url(), "-i", "acme", "--secret-env", "WHSEC")
    assert added.exit_code == 0, added.output
    assert "Signing secret" not in added.output
    store = open_access_store(str(settings.state.url))
    cipher = load_cipher(default_key_file(settings.state.url, settings.source))
    once = WebhookService(store, cipher, policy=RetryPolicy(max_attempts=1, base=timedelta(seconds=1)))
    once.enqueue("acme", EventType.PING, {}, "ping-1")
    receiver.script["/hook"] = [500]
    assert once.deliver_due().failed == 1
    store.close()
    dead = run(settings, "webhooks", "list", "-i", "acme", "--failed")
    assert "ping-1" in dead.output
    assert "HTTP 500 Internal Server Error" in dead.output
    assert "Queued 1 failed deliveries of acme again." in run(settings, "webhooks", "retry", "-i", "acme").output
    assert "Delivered 1," in run(settings, "webhooks", "deliver").output
    assert "no failed deliveries" in run(settings, "webhooks", "list", "-i", "acme", "--failed").output
    got = receiver.received[-1]
    assert verify_signature(GIVEN_SECRET, got.headers["Calsync-Signature"], got.body, time.time())
