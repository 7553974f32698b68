"""Where autodiscover results are kept: calsync's own store, never exchangelib's shared file in the temp folder.

Why not exchangelib's cache: it is a ``shelve`` file in the system's temp folder shared by every process of the
user, keyed by credentials; calsync keeps its state in its own database. The connector takes any object with
``get``/``put``/``forget``; services pass one backed by the state store, tests and one-off commands the
in-memory default.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Discovered:
    """What autodiscover found for one e-mail domain: the EWS URL and the server's build (``15.1.2507.6``)."""

    ews_url: str
    build: str = ""


@runtime_checkable
class AutodiscoverCache(Protocol):
    """Autodiscover results by key (the e-mail domain and the account name; never a secret)."""

    def get(self, key: str) -> Discovered | None:
        """The result stored under ``key``, if any."""
        ...

    def put(self, key: str, found: Discovered) -> None:
        """Store ``found`` under ``key``, replacing what was there."""
        ...

    def forget(self, key: str) -> None:
        """Drop ``key`` (its URL stopped answering), so the next connection discovers again."""
        ...


class MemoryAutodiscoverCache:
    """The default cache: a dictionary that lives as long as the process (safe to share between threads)."""

    def __init__(self) -> None:
        self._found: dict[str, Discovered] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Discovered | None:
        with self._lock:
            return self._found.get(key)

    def put(self, key: str, found: Discovered) -> None:
        with self._lock:
            self._found[key] = found

    def forget(self, key: str) -> None:
        with self._lock:
            self._found.pop(key, None)


def cache_key(email: str, username: str) -> str:
    """The key of an autodiscover result: the address's domain and the account, lower case."""
    return f"{email.rpartition('@')[2].lower()}|{username.lower()}"
