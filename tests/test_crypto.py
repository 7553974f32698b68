"""Secrets at rest: the Secret type, the key from the environment or a key file, rotation, sealing, redaction."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from calsync.crypto import (
    KEY_ENV,
    KEY_FILE_NAME,
    Cipher,
    PassphraseKey,
    Secret,
    SecretFilter,
    commit_key,
    default_key_file,
    load_cipher,
    new_key,
    new_salt,
    redactor,
    seal,
    stage_key,
    unseal,
)
from calsync.errors import ConfigError, StateError

PASSWORD = "correct-horse-battery-staple"


def test_a_secret_never_shows_itself() -> None:
    secret = Secret(PASSWORD)
    assert PASSWORD not in repr(secret)
    assert PASSWORD not in str(secret)
    assert PASSWORD not in f"{secret} {secret!r} {[secret]} { ({'k': secret}) }"
    assert secret.reveal() == PASSWORD
    assert secret == Secret(PASSWORD)
    assert secret != Secret("another-one")


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        Secret("")


def test_encrypt_then_decrypt_gives_the_secret_back_and_the_token_hides_it() -> None:
    cipher = Cipher([new_key()], origin="test")
    token = cipher.encrypt(Secret(PASSWORD))
    assert PASSWORD not in token
    assert token != cipher.encrypt(Secret(PASSWORD))  # a fresh IV every time
    assert cipher.decrypt(token).reveal() == PASSWORD


def test_a_wrong_key_is_a_clear_state_error() -> None:
    token = Cipher([new_key()], origin="old").encrypt(Secret(PASSWORD))
    with pytest.raises(StateError, match="cannot be decrypted with the secret key from other") as caught:
        Cipher([new_key()], origin="other").decrypt(token)
    assert PASSWORD not in str(caught.value)


def test_the_key_from_the_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    key = new_key()
    cipher = load_cipher(tmp_path / KEY_FILE_NAME, {KEY_ENV: key.decode()})
    assert cipher.origin == KEY_ENV
    assert not (tmp_path / KEY_FILE_NAME).exists()
    token = cipher.encrypt(Secret(PASSWORD))
    assert Cipher([key], origin="same").decrypt(token).reveal() == PASSWORD


def test_a_malformed_key_in_the_environment_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{KEY_ENV}: not a valid secret key"):
        load_cipher(tmp_path / KEY_FILE_NAME, {KEY_ENV: "not-a-key"})


def test_the_key_file_is_created_on_first_run_private_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / KEY_FILE_NAME
    first = load_cipher(key_file, {})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.encrypt(Secret(PASSWORD))
    assert load_cipher(key_file, {}).decrypt(token).reveal() == PASSWORD


def test_a_corrupt_key_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    key_file.write_text("garbage\n")
    with pytest.raises(ConfigError, match=f"{key_file}: not a valid secret key"):
        load_cipher(key_file, {})


def test_without_a_place_for_the_key_file_the_variable_is_required() -> None:
    with pytest.raises(ConfigError, match=f"set {KEY_ENV}"):
        load_cipher(None, {})


def test_the_key_file_lives_next_to_a_sqlite_database_or_the_config(tmp_path: Path) -> None:
    assert default_key_file(str(tmp_path / "s.db"), None) == tmp_path / KEY_FILE_NAME
    assert default_key_file(f"sqlite:///{tmp_path}/db/s.db", None) == tmp_path / "db" / KEY_FILE_NAME
    assert default_key_file("postgresql://db/calsync", tmp_path / "c.toml") == tmp_path / KEY_FILE_NAME
    assert default_key_file("sqlite:///:memory:", None) is None


def test_a_staged_key_decrypts_too_so_a_rotation_cut_short_loses_nothing(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    old = load_cipher(key_file, {})
    old_token = old.encrypt(Secret(PASSWORD))
    key = new_key()
    stage_key(key_file, key)
    new_token = Cipher([key], origin="new").encrypt(Secret(PASSWORD))
    between = load_cipher(key_file, {})  # as after a crash between the re-encryption and commit_key
    assert between.decrypt(old_token).reveal() == between.decrypt(new_token).reveal() == PASSWORD
    commit_key(key_file)
    after = load_cipher(key_file, {})
    assert after.decrypt(new_token).reveal() == PASSWORD
    with pytest.raises(StateError):
        after.decrypt(old_token)


def test_sealing_with_a_passphrase_round_trips_and_a_wrong_passphrase_is_refused() -> None:
    salt = new_salt()
    token = seal(Secret(PASSWORD), Secret("open sesame"), salt)
    assert unseal(token, Secret("open sesame"), salt, where="f.json").reveal() == PASSWORD
    with pytest.raises(ConfigError, match=r"f\.json: the passphrase is wrong"):
        unseal(token, Secret("open sesame!"), salt, where="f.json")


def test_a_passphrase_signs_a_document_and_refuses_a_changed_one_or_another_passphrase() -> None:
    salt = new_salt()
    tag = PassphraseKey(Secret("open sesame"), salt).sign(b'{"url":"https://dav.example.com/"}')
    key = PassphraseKey(Secret("open sesame"), salt)
    key.verify(b'{"url":"https://dav.example.com/"}', tag, where="f.json")
    with pytest.raises(ConfigError, match=r"f\.json: the passphrase is wrong or the file was altered"):
        key.verify(b'{"url":"https://attacker.example.net/"}', tag, where="f.json")
    with pytest.raises(ConfigError, match="the passphrase is wrong"):
        PassphraseKey(Secret("open sesame!"), salt).verify(b'{"url":"https://dav.example.com/"}', tag, where="f")
    with pytest.raises(ConfigError, match="the passphrase is wrong"):
        key.verify(b"{}", None, where="f.json")
    assert key.unseal(PassphraseKey(Secret("open sesame"), salt).seal(Secret(PASSWORD)), where="f").reveal() == PASSWORD


def test_the_log_filter_masks_every_registered_secret(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("s3cr3t-for-the-log-test")
    caplog.handler.addFilter(redactor())
    try:
        logger = logging.getLogger("calsync.test")
        logger.warning("connecting with %s failed", secret.reveal())
        try:
            raise RuntimeError(f"server said no to {secret.reveal()}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        caplog.handler.removeFilter(redactor())
    assert "s3cr3t-for-the-log-test" not in caplog.text
    assert "connecting with *** failed" in caplog.text
    assert "server said no to ***" in caplog.text


def test_a_fresh_filter_masks_the_longest_secret_first() -> None:
    masks = SecretFilter()
    masks.register("abcd")
    masks.register("abcdefgh")
    masks.register("xy")  # too short to mask: it would mask ordinary words
    assert masks.redact("abcdefgh abcd xy") == "*** *** xy"
