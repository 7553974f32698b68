"""Reading one TOML table with typed getters that name the key path in every error.

Why a reader instead of ``data.get(...)``: every value is checked for its type and range where it is read, so
the error can say exactly which key is wrong and what is allowed; and the reader remembers which keys were
asked for, so ``finish()`` can reject a misspelt key instead of silently ignoring it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Final, TypeVar

from calsync.config.model import SecretRef
from calsync.errors import ConfigError

E = TypeVar("E", bound=StrEnum)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Names of connections, pairs and integrations: they appear in ``connection:collection`` and in the state."""
NAME_HINT = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Missing:
    """The default of a required key."""


REQUIRED: Final = _Missing()


class Table:
    """One TOML table at ``path`` (``"pairs[2]"``; ``""`` for the top level) of the file ``source``."""

    def __init__(self, data: object, path: str, source: str, base: Path) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"must be a table, not {_type_name(data)}", where=_where(source, path))
        self.data: Mapping[str, object] = data
        self.path = path
        self.source = source
        self.base = base
        self.asked: list[str] = []

    def key_path(self, key: str) -> str:
        """The path of ``key`` in this table: ``pairs[2].mode``."""
        return f"{self.path}.{key}" if self.path else key

    def where(self, key: str = "") -> str:
        """The file and key path of ``key`` in this table, for an error."""
        return _where(self.source, self.key_path(key) if key else self.path)

    def error(self, key: str, message: str) -> ConfigError:
        """A ``ConfigError`` about ``key`` of this table."""
        return ConfigError(message, where=self.where(key))

    def has(self, key: str) -> bool:
        """Whether the table sets ``key`` (and mark it as a known key)."""
        self.asked.append(key)
        return key in self.data

    def raw(self, key: str, default: object = REQUIRED) -> object:
        """The value of ``key`` unchecked; raises when it is required and missing."""
        if not self.has(key):
            if isinstance(default, _Missing):
                raise self.error(key, "is required")
            return default
        return self.data[key]

    def text(
        self,
        key: str,
        default: str | _Missing = REQUIRED,
        *,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
    ) -> str:
        """A string; an empty string counts as missing when the key is required."""
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_type_name(value)}")
        if isinstance(default, _Missing) and not value.strip():
            raise self.error(key, "must not be empty")
        if pattern is not None and (value or isinstance(default, _Missing)) and not pattern.match(value):
            raise self.error(key, f"{value!r} is not allowed: {hint or 'see the README'}")
        return value

    def integer(self, key: str, default: int | _Missing, low: int, high: int | None = None) -> int:
        """A whole number in ``[low, high]``."""
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {_type_name(value)}")
        if value < low or (high is not None and value > high):
            allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise self.error(key, f"must be {allowed}, not {value}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A number in ``(low, high]``: a share such as ``0.5``."""
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {_type_name(value)}")
        if not low < value <= high:
            raise self.error(key, f"must be more than {low} and at most {high}, not {value}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_type_name(value)}")
        return value

    def choice(self, key: str, enum: type[E], default: E | _Missing = REQUIRED, *, fold_case: bool = False) -> E:
        """One of an enum's values, spelt as in the README."""
        value = self.text(key, default.value if isinstance(default, StrEnum) else default)
        return parse_choice(value.lower() if fold_case else value, enum, self.where(key))

    def path_value(self, key: str, default: str | _Missing = REQUIRED) -> Path:
        """A file or folder path; relative paths are relative to the configuration file's folder. Spaces around it
        mean nothing, as in a folder integration's path (a configured one is its connection's path)."""
        value = home_path(self.text(key, default).strip(), self.where(key))
        return value if value.is_absolute() else self.base / value

    def secret(self, key: str, *, required: bool = True) -> SecretRef | None:
        """A secret given by reference as ``<key>_env`` or ``<key>_file``; a literal ``<key>`` is refused."""
        if self.has(key):
            raise self.error(
                key,
                f"secrets are not written in the file: use {key}_env (the name of an "
                f"environment variable) or {key}_file (a file holding it)",
            )
        env = self.text(f"{key}_env", "", pattern=_ENV_NAME, hint="an environment variable name")
        file = self.text(f"{key}_file", "")
        if env and file:
            raise self.error(f"{key}_env", f"give {key}_env or {key}_file, not both")
        if not env and not file:
            if required:
                raise self.error(f"{key}_env", f"is required (or {key}_file)")
            return None
        return SecretRef(env=env) if env else SecretRef(file=self.path_value(f"{key}_file"))

    def table(self, key: str) -> Table:
        """A sub-table (``[state]``, ``mass_delete = {...}``); missing reads as empty."""
        return Table(self.raw(key, {}), self.key_path(key), self.source, self.base)

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[pairs]]``), each with its 1-based position in its path."""
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables ([[{key}]]), not {_type_name(value)}")
        prefix = self.key_path(key)
        return [Table(item, f"{prefix}[{number}]", self.source, self.base) for number, item in enumerate(value, 1)]

    def finish(self) -> None:
        """Reject any key that was never asked for: most often a typo."""
        unknown = [key for key in self.data if key not in self.asked]
        if unknown:
            allowed = ", ".join(dict.fromkeys(self.asked))
            raise self.error(unknown[0], f"unknown key; allowed here: {allowed}")


def parse_choice(value: str, enum: type[E], where: str) -> E:
    """``value`` as a member of ``enum``; the error lists every allowed spelling."""
    try:
        return enum(value)
    except ValueError:
        allowed = " | ".join(member.value for member in enum)
        raise ConfigError(f"{value!r} is not allowed; use one of: {allowed}", where=where) from None


def _where(source: str, path: str) -> str:
    return f"{source}: {path}" if path else source


def _type_name(value: object) -> str:
    names = {
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def home_path(text: str, where: str) -> Path:
    """``text`` as a path, a leading ``~`` or ``~user`` being that home folder; ``ConfigError`` naming ``where``
    when there is no such user or home (``Path.expanduser`` raises a bare ``RuntimeError`` then)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text[1:].split("/", 1)[0] or "this user"
        raise ConfigError(f"cannot find the home folder of {user} (from {text!r})", where=where) from None


def real_path(path: str | Path) -> str:
    """``path`` with symlinks and ``..`` resolved, or as it is when that fails (a loop, a NUL, a working folder
    that is gone): the same spelling gives the same answer either way."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError, ValueError):
        return str(path)
