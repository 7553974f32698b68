"""Secrets at rest: the key, encryption of stored secrets, passphrase sealing for profiles, redaction of logs.

Why Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``): it authenticates what it decrypts, so a wrong
key or a tampered value is an error, never garbage handed to a server as a password. The key comes from
``CALSYNC_SECRET_KEY`` or from a key file created on first run (mode 0600) next to the state; whoever can read
both the database and the key can read the secrets, so the two are meant to be backed up and guarded apart.

Why a ``Secret`` type: a plain ``str`` ends up in a repr, an f-string or a log line by accident. ``Secret`` shows
``***`` everywhere except ``reveal()``, and every secret the process handles is registered with the process's
``SecretFilter`` so a log line that still carries one (an exception message from a lower library) is masked.

Rotation: ``stage_key`` writes the new key beside the old one as ``<file>.new``; the caller re-encrypts every
stored secret in one transaction, then ``commit_key`` moves the new file over the old one. A crash in between
leaves both files, and ``load_cipher`` decrypts with either, so no secret becomes unreadable.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import secrets as random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from calsync.errors import ConfigError, StateError

if TYPE_CHECKING:  # ``cryptography`` is imported where a secret is handled: `calsync sync` needs none
    from cryptography.fernet import Fernet

KEY_ENV = "CALSYNC_SECRET_KEY"
"""The environment variable that holds the Fernet key; it wins over the key file."""
KEY_FILE_NAME = "secret.key"
"""The key file's name, created next to the state database on first run."""
MASK = "***"
SCRYPT_N = 2**14
"""The scrypt cost for profile passphrases: about 16 MiB and 50 ms, enough against guessing a file offline."""
_MAC_INFO = b"calsync profile authentication"
_WRONG_PASSPHRASE = "the passphrase is wrong or the file was altered"


class Secret:
    """A secret value that never shows itself: ``repr`` and ``str`` give ``***``; only ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ConfigError("a secret must not be empty")
        self._value = value
        redactor().register(value)

    def reveal(self) -> str:
        """The secret itself, for the one place that hands it to a server."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and random.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class SecretFilter(logging.Filter):
    """A logging filter that replaces every registered secret in a record's message with ``***``.

    Attach it to handlers (not loggers: a logger's filters skip records propagated from its children).
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def register(self, value: str) -> None:
        """Mask ``value`` from now on (values shorter than four characters would mask ordinary words)."""
        if len(value) >= 4:
            self._secrets.add(value)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret masked, longest first so no part of one is left."""
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message and any exception text; always lets the record through."""
        message = record.getMessage()
        masked = self.redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


_REDACTOR = SecretFilter()


def redactor() -> SecretFilter:
    """The process's filter: every ``Secret`` made in this process is registered with it."""
    return _REDACTOR


class Cipher:
    """Encrypts with the first key, decrypts with any of the keys (the rest are kept during a rotation)."""

    def __init__(self, keys: list[bytes], *, origin: str) -> None:
        if not keys:
            raise ConfigError("no secret key", where=origin)
        from cryptography.fernet import MultiFernet

        self.origin = origin
        self._fernet = MultiFernet([_fernet(key, origin) for key in keys])

    def encrypt(self, secret: Secret) -> str:
        """The secret as a Fernet token (ASCII), different on every call (a random IV)."""
        return self._fernet.encrypt(secret.reveal().encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> Secret:
        """The secret in ``token``; raises ``StateError`` when it was encrypted with another key."""
        from cryptography.fernet import InvalidToken

        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, UnicodeError) as exc:
            raise StateError(
                f"a stored secret cannot be decrypted with the secret key from {self.origin}: the key is not the "
                f"one the secrets were encrypted with (restore the right key or set {KEY_ENV})"
            ) from exc


def new_key() -> bytes:
    """A fresh random Fernet key."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


def default_key_file(state_url: str, config_file: Path | None) -> Path | None:
    """Where the key file lives: next to a SQLite database file, else next to the configuration file.

    ``None`` for an in-memory database without a configuration file: then only ``CALSYNC_SECRET_KEY`` can serve.
    """
    if "://" not in state_url:
        return Path(state_url).expanduser().absolute().parent / KEY_FILE_NAME
    path = state_url.split("?", 1)[0].split(":///", 1)[1] if ":///" in state_url else ""
    if state_url.lower().startswith("sqlite") and path and path != ":memory:":
        return Path(path).expanduser().absolute().parent / KEY_FILE_NAME
    return config_file.parent / KEY_FILE_NAME if config_file is not None else None


def load_cipher(key_file: Path | None, environ: Mapping[str, str] | None = None) -> Cipher:
    """The cipher of this installation: the key in ``CALSYNC_SECRET_KEY``, else the key file (created when missing).

    Raises ``ConfigError`` for a malformed key or when there is neither a variable nor a place for the file.
    """
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return Cipher([env[KEY_ENV].strip().encode("ascii", "replace")], origin=KEY_ENV)
    if key_file is None:
        raise ConfigError(f"set {KEY_ENV}: there is no state file to keep the key file next to", where=KEY_ENV)
    keys = [_read_or_create(key_file)]
    staged = _staged(key_file)
    if staged.exists():
        keys.append(_read_key(staged))
    return Cipher(keys, origin=str(key_file))


def stage_key(key_file: Path, key: bytes) -> None:
    """Write ``key`` as ``<key_file>.new`` (mode 0600), the first step of a rotation."""
    _fernet(key, "the new key")
    staged = _staged(key_file)
    staged.unlink(missing_ok=True)
    _write_private(staged, key)


def commit_key(key_file: Path) -> None:
    """Make the staged key the key, after every secret was re-encrypted with it."""
    _staged(key_file).replace(key_file)


class PassphraseKey:
    """The keys a passphrase and a salt give, for a profile file: one seals secrets, one authenticates the file.

    Why one object: scrypt runs once (it costs about 50 ms by design) however many secrets a file holds. Why two
    keys: the sealed secrets are Fernet tokens, but a profile's other fields (the server's address, the users,
    the rules) must not be changeable either, or an altered file would send a stored password to another server;
    an HMAC-SHA256 over the whole document, under a key derived apart from the sealing key (HKDF), covers them.
    """

    __slots__ = ("_fernet", "_mac_key")

    def __init__(self, passphrase: Secret, salt: bytes) -> None:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        master = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=8, p=1).derive(passphrase.reveal().encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(master))
        self._mac_key = HKDF(hashes.SHA256(), length=32, salt=None, info=_MAC_INFO).derive(master)

    def seal(self, secret: Secret) -> str:
        """``secret`` encrypted and authenticated (a Fernet token, ASCII)."""
        return self._fernet.encrypt(secret.reveal().encode("utf-8")).decode("ascii")

    def unseal(self, token: str, *, where: str) -> Secret:
        """The secret sealed in ``token``; raises ``ConfigError`` naming ``where`` for a wrong passphrase."""
        from cryptography.fernet import InvalidToken

        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, UnicodeError) as exc:
            raise ConfigError(_WRONG_PASSPHRASE, where=where) from exc

    def sign(self, data: bytes) -> str:
        """The HMAC-SHA256 of ``data`` under this passphrase, base64 (ASCII)."""
        return base64.b64encode(hmac.digest(self._mac_key, data, "sha256")).decode("ascii")

    def verify(self, data: bytes, tag: object, *, where: str) -> None:
        """Raise ``ConfigError`` naming ``where`` unless ``tag`` is ``sign(data)`` (compared in constant time)."""
        expected = self.sign(data).encode("ascii")
        given = tag.encode("ascii", "replace") if isinstance(tag, str) else b""
        if not hmac.compare_digest(expected, given):
            raise ConfigError(_WRONG_PASSPHRASE, where=where)


def seal(secret: Secret, passphrase: Secret, salt: bytes) -> str:
    """``secret`` encrypted under a key derived from ``passphrase`` and ``salt`` with scrypt (for profiles)."""
    return PassphraseKey(passphrase, salt).seal(secret)


def unseal(token: str, passphrase: Secret, salt: bytes, *, where: str) -> Secret:
    """The secret sealed in ``token``; raises ``ConfigError`` naming ``where`` for a wrong passphrase."""
    return PassphraseKey(passphrase, salt).unseal(token, where=where)


def new_salt() -> bytes:
    """A random salt for ``seal``."""
    return random.token_bytes(16)


def _fernet(key: bytes, origin: str) -> Fernet:
    from cryptography.fernet import Fernet

    try:
        return Fernet(key)
    except (ValueError, TypeError) as exc:
        message = "not a valid secret key (a Fernet key: 32 url-safe base64-encoded bytes)"
        raise ConfigError(message, where=origin) from exc


def _staged(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".new")


def _read_or_create(key_file: Path) -> bytes:
    if not key_file.exists():
        try:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            _write_private(key_file, new_key())
        except FileExistsError:
            pass  # another process created it first: read theirs
    return _read_key(key_file)


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the secret key file: {exc.strerror}", where=str(path)) from exc
    _fernet(key, str(path))
    return key


def _write_private(path: Path, key: bytes) -> None:
    """Create ``path`` readable by its owner only, failing if it exists (two first runs must not differ)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise  # the caller decides: a key another process just created is read, a staged one replaced
    except OSError as exc:
        raise ConfigError(f"cannot create the secret key file: {exc.strerror}", where=str(path)) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
