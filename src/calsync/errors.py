"""The one error tree of calsync.

Every exception calsync raises on purpose is a ``CalsyncError``. Lower libraries' exceptions are translated at
the border (each connector has one ``translate_errors()`` context manager, the state store one of its own) with
``raise ... from exc``, so the engine, the services and the entry points only ever catch these. The CLI, the web
app and the job runner each render them in one place; ``str(error)`` is the one clear line a person reads, and it
never contains a secret.
"""

from __future__ import annotations


class CalsyncError(Exception):
    """Base of every error calsync raises on purpose."""


# -- configuration ---------------------------------------------------------------------------------------------


class ConfigError(CalsyncError):
    """The configuration is missing, malformed or inconsistent.

    ``where`` names the file, section or field so the reader can fix it without guessing.
    """

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class SecretUnavailable(ConfigError):
    """A secret the configuration refers to (an environment variable, a file) is not there: not on this machine,
    which need not be the one calsync runs on (``check-config`` only notes it)."""


# -- connectors ------------------------------------------------------------------------------------------------


class ConnectorError(CalsyncError):
    """A calendar, task or contact store could not do what was asked."""

    def __init__(self, message: str, *, connector: str = "", href: str = "") -> None:
        self.connector = connector
        self.href = href
        super().__init__(message)


class AuthError(ConnectorError):
    """The server refused the credentials or the account lacks a right it needs (impersonation, consent …)."""


class NotFound(ConnectorError):
    """The item or collection does not exist (any more)."""


class PreconditionFailed(ConnectorError):
    """A guarded write lost a race: the item changed since its version (etag, changekey) was read.

    The engine treats this as a conflict to resolve on the next run, never as a reason to overwrite.
    """


class AlreadyExists(ConnectorError):
    """A create found an item of the same identity holding different content than the caller expected."""


class RateLimited(ConnectorError):
    """The server asked us to slow down; ``retry_after`` is its hint in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, connector: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(message, connector=connector)


class Unavailable(ConnectorError):
    """The server could not be reached or failed (timeout, connection refused, 5xx, broken protocol)."""


class TlsFailure(Unavailable):
    """The TLS handshake failed: an untrusted or expired certificate, a wrong host name, a refused client cert."""


class ProtocolError(Unavailable):
    """The server answered something its protocol does not allow (a malformed multistatus, a missing etag)."""


class ReadOnly(ConnectorError):
    """A write was attempted on a side that is configured or made read-only, or on an item its store will not let
    calsync change (a meeting someone else organises); the engine reports the item as skipped, with the reason."""


class InvalidItem(ConnectorError):
    """One item's content cannot be parsed or cannot be written; the rest of the collection is unaffected."""


# -- sync ------------------------------------------------------------------------------------------------------


class SyncError(CalsyncError):
    """The engine refused to go on with a pair because going on would be unsafe."""


class Conflict(SyncError):
    """Both sides changed one item in different ways and the pair's policy did not settle it."""

    def __init__(self, message: str, *, ident: str = "") -> None:
        self.ident = ident
        super().__init__(message)


class DuplicateIdentity(SyncError):
    """Two items on one side carry the same identity (UID or business key), so neither can be matched safely."""

    def __init__(self, message: str, *, ident: str = "", hrefs: tuple[str, ...] = ()) -> None:
        self.ident = ident
        self.hrefs = hrefs
        super().__init__(message)


class MassDeletion(SyncError):
    """A run would delete more of one side than the pair's guard allows; deletions are held for approval."""

    def __init__(self, message: str, *, side: str = "", would_delete: int = 0, total: int = 0) -> None:
        self.side = side
        self.would_delete = would_delete
        self.total = total
        super().__init__(message)


class PairLocked(SyncError):
    """Another run of the same pair holds its lock; ``holder`` names it (``host:pid`` for calsync's own runs)."""

    def __init__(self, message: str, *, holder: str = "") -> None:
        self.holder = holder
        super().__init__(message)


# -- state -----------------------------------------------------------------------------------------------------


class StateError(CalsyncError):
    """The state store failed or holds data this version cannot read."""


class LeaseLost(StateError):
    """A run's lease on its pair ran out and another run took it over: the run stops before recording more
    (invariant 5: two runs of one pair never both record)."""
