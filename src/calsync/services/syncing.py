"""Syncing configured pairs: the use case behind ``calsync sync``, later behind the scheduler and the web app.

Services are the one layer that picks concrete parts: the connector class of each connection (through the
registry, so an unavailable type is a ``ConfigError`` naming the pair) and the state store (``open_store``).
Everything is built per call from the ``Settings`` passed in; nothing is kept between calls.

Why one outcome per pair instead of one exception: pairs are independent units (each has its own lock, state
and job), so a pair whose server is down or whose folder is missing must not keep the others from syncing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol, runtime_checkable

from calsync.config import (
    Connection,
    DavConnection,
    EwsConnection,
    FolderConnection,
    GraphConnection,
    MemoryConnection,
    PairSettings,
    Settings,
)
from calsync.config.reader import real_path
from calsync.connectors.base import Connector
from calsync.connectors.registry import RUNNABLE, connector_class
from calsync.errors import CalsyncError, ConfigError
from calsync.state.store import JobKind, StateStore
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.report import Report
from calsync.sync.rules import PairPolicy

logger = logging.getLogger(__name__)

_MEMORY_WITH_STATE = (
    "connection {name!r} is a memory store, which forgets its items when calsync exits, while the state "
    "is kept: the next run would take them all for deleted. Use memory connections only with "
    '[state] url = "sqlite:///:memory:", or use a folder'
)

PairProgress = Callable[[str, str, int, int], None]
"""Called with the pair's name, the phase, items done and items in all (0 when unknown)."""


@dataclass(frozen=True, slots=True)
class PairOutcome:
    """How one pair's run ended: its report, or the error that stopped it (then ``report`` is ``None``).

    ``a`` and ``b`` are the pair's endpoints as configured (``connection:collection``), for display.
    """

    name: str
    a: str
    b: str
    report: Report | None = None
    error: Exception | None = None

    @property
    def failed(self) -> bool:
        """Whether the pair did not run to its end."""
        return self.error is not None

    @property
    def message(self) -> str:
        """The error in one line; an unexpected (non-calsync) error is named by its type."""
        if self.error is None:
            return ""
        error = self.error
        text = str(error) if isinstance(error, CalsyncError) else f"{type(error).__name__}: {error}"
        return " ".join(text.split())


def select_pairs(settings: Settings, names: Sequence[str] | None = None) -> list[PairSettings]:
    """The pairs called ``names`` in the order given (all pairs when ``names`` is empty or ``None``).

    Raises ``ConfigError`` when there is no pair at all or a name is unknown (listing the known names), before
    anything runs, so a typo on the command line does not sync half of what was meant.
    """
    if not settings.pairs:
        where = str(settings.source) if settings.source is not None else "settings"
        raise ConfigError("no [[pairs]] are configured, so there is nothing to sync", where=where)
    if not names:
        return list(settings.pairs)
    return [settings.pair(name) for name in dict.fromkeys(names)]


def build_pair_specs(
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    connectors: Mapping[str, Connector] | None = None,
) -> list[PairSpec]:
    """The engine's specs of the selected pairs, with their connectors built (nothing is read or written yet).

    ``connectors`` are ready-made connectors by connection name, used instead of building those connections.
    Raises ``ConfigError`` for an unknown pair name or a connection type this version cannot run.
    """
    built = _Connectors(settings, connectors)
    return [_spec(settings, pair, built) for pair in select_pairs(settings, names)]


def sync_pairs(
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    dry_run: bool,
    full: bool,
    allow_mass_delete: bool,
    progress: PairProgress | None = None,
    connectors: Mapping[str, Connector] | None = None,
) -> list[PairOutcome]:
    """Run the selected pairs one after the other and return one outcome per pair, in order.

    A failing pair (its connector cannot be built, a side is unreachable, its lock is held) becomes an
    outcome with an error and the next pair runs. Raises ``ConfigError`` for an unknown pair name, and
    ``StateError`` or ``ConfigError`` when the state store cannot be opened, since then no pair can run.
    ``connectors`` as for ``build_pair_specs``.
    """
    pairs = select_pairs(settings, names)
    built = _Connectors(settings, connectors)
    options = RunOptions(
        kind=JobKind.MANUAL,
        full=full,
        dry_run=dry_run,
        allow_mass_delete=allow_mass_delete,
    )
    store = open_state_store(settings)
    try:
        runner = _Runner(settings, built, store, options, progress)
        return [runner.run(pair) for pair in pairs]
    finally:
        store.close()


def connections_not_runnable(settings: Settings) -> list[Connection]:
    """The configured connections of a type this version accepts but cannot sync yet (CalDAV, EWS …)."""
    return [c for c in settings.connections if c.type not in RUNNABLE]


def open_state_store(settings: Settings) -> StateStore:
    """The state store the settings name, created or migrated on first use.

    Imported here, not at module level, so commands that never open the store do not load SQLAlchemy.
    """
    from calsync.state.sql import database_url, open_store

    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    return open_store(url.render_as_string(hide_password=False))


@dataclass(frozen=True, slots=True)
class _Runner:
    """What every pair of one ``sync_pairs`` call shares."""

    settings: Settings
    connectors: _Connectors
    store: StateStore
    options: RunOptions
    progress: PairProgress | None

    def run(self, pair: PairSettings) -> PairOutcome:
        """One pair's run, its failure turned into an outcome."""
        outcome = partial(PairOutcome, pair.name, str(pair.a), str(pair.b))
        options = self.options
        if self.progress is not None:
            self.progress(pair.name, "starting", 0, 0)
            options = replace(options, progress=partial(self.progress, pair.name))
        try:
            return outcome(report=sync_pair(_spec(self.settings, pair, self.connectors), self.store, options))
        except CalsyncError as exc:
            logger.info("pair %s failed: %s", pair.name, exc)
            return outcome(error=exc)
        except Exception as exc:  # a bug or an untranslated OS error must not stop the other pairs
            logger.debug("pair %s failed unexpectedly", pair.name, exc_info=True)
            return outcome(error=exc)


def _spec(settings: Settings, pair: PairSettings, connectors: _Connectors) -> PairSpec:
    number = settings.pairs.index(pair) + 1
    where = f"{settings.source}: pairs[{number}]" if settings.source is not None else f"pairs[{number}]"
    a = connectors.endpoint(pair.a.connection, pair.a.collection, f"{where}.a")
    b = connectors.endpoint(pair.b.connection, pair.b.collection, f"{where}.b")
    policy = PairPolicy(
        mode=pair.mode,
        conflict=pair.conflict,
        delete_on_a=pair.delete_on_a,
        delete_on_b=pair.delete_on_b,
        read_only_a=a.connector.capabilities.read_only,
        read_only_b=b.connector.capabilities.read_only,
        guard=pair.mass_delete,
    )
    bound_to = "\n".join(
        f"{side}: {ref.connection}@{_whereabouts(settings, ref.connection)}:{ref.collection}"
        for side, ref in (("A", pair.a), ("B", pair.b))
    )
    return PairSpec(pair.name, a, b, policy, pair.window, bound_to)


def _whereabouts(settings: Settings, name: str) -> str:
    """Where the connection ``name`` reaches, as its pairs are bound to it: re-pointed under the same name (another
    folder, server or account), it is another store, whose items the pairs' links do not name."""
    connection = next((c for c in settings.connections if c.name == name), None)
    if isinstance(connection, FolderConnection):
        return real_path(connection.path)  # the config file named through a symlink or ".." is one folder
    if isinstance(connection, DavConnection):
        return f"{connection.username.strip()} {connection.url.strip()}"
    if isinstance(connection, EwsConnection):
        return f"{connection.username.strip()} {(connection.url or connection.autodiscover_email).strip()}"
    if isinstance(connection, GraphConnection):
        return connection.tenant_id.strip()
    return ""


@runtime_checkable
class _MakesCollections(Protocol):
    """A store whose collections exist only once made (the memory store)."""

    def make_collection(self, collection: str) -> None: ...


class _Connectors:
    """Connectors by connection name, each built once per call, or given ready-made by the caller.

    Why share: two pairs on one connection then see one store (a memory store's items, a folder's cache of
    what it wrote), exactly as two pairs on one real server do. Why ready-made ones: tests and long-lived
    callers (the service) hand in connectors they hold; those are used as they are.
    """

    def __init__(self, settings: Settings, prebuilt: Mapping[str, Connector] | None = None) -> None:
        self._settings = settings
        self._prebuilt = dict(prebuilt or {})
        self._built: dict[str, Connector] = {}

    def endpoint(self, name: str, collection: str, where: str) -> Endpoint:
        """One side of a pair; ``where`` names the key that asked for it, for errors."""
        if name in self._prebuilt:
            return Endpoint(self._prebuilt[name], collection)
        if name not in self._built:
            self._built[name] = self._build(self._settings.connection(name), where)
        connector = self._built[name]
        if isinstance(connector, _MakesCollections):
            connector.make_collection(collection)
        return Endpoint(connector, collection)

    def _build(self, connection: Connection, where: str) -> Connector:
        """A connector for ``connection``; the registry refuses types this version cannot run."""
        factory = connector_class(connection.type, where=where)
        if isinstance(connection, FolderConnection):
            return factory(
                connection.path,
                name=connection.name,
                extension=connection.extension,
                read_only=connection.read_only,
                fsync=connection.fsync,
            )
        if isinstance(connection, MemoryConnection):
            if not is_ephemeral(self._settings.state.url):
                raise ConfigError(_MEMORY_WITH_STATE.format(name=connection.name), where=where)
            return factory(connection.name, read_only=connection.read_only)
        if isinstance(connection, DavConnection):
            return factory(
                connection.url,
                name=connection.name,
                username=connection.username,
                password=connection.password.reveal(),
                auth=connection.auth.value,
                verify_tls=connection.verify_tls,
                ca_bundle=connection.ca_bundle,
                client_cert=connection.client_cert,
                client_key=connection.client_key,
                proxy=connection.proxy,
                timeout=connection.timeout,
                server=connection.server.value if connection.server else "",
                read_only=connection.read_only,
            )
        if isinstance(connection, GraphConnection):
            return factory(
                connection.name,
                tenant_id=connection.tenant_id,
                client_id=connection.client_id,
                client_secret=connection.client_secret.reveal() if connection.client_secret else "",
                certificate_pem=connection.certificate.reveal() if connection.certificate else "",
                mailboxes=self._mailboxes(connection.name),
                read_only=connection.read_only,
            )
        if isinstance(connection, EwsConnection):
            from calsync.config.model import EwsAuth
            from calsync.connectors.ews.settings import Access, EwsSettings, Logon, Patience

            secret = connection.client_secret
            settings = EwsSettings(
                username=connection.username,
                password=connection.password.reveal() if connection.password is not None else "",
                url=connection.url,
                autodiscover_email=connection.autodiscover_email,
                autodiscover_url=connection.autodiscover_url,
                logon=Logon(connection.logon.value),
                access=Access.DELEGATE if connection.auth is EwsAuth.DELEGATE else Access.IMPERSONATION,
                version=connection.version,
                verify_tls=connection.verify_tls,
                ca_bundle=connection.ca_bundle,
                client_id=connection.client_id,
                client_secret=secret.reveal() if secret is not None else "",
                tenant_id=connection.tenant_id,
                timezone=connection.timezone,
                patience=Patience(timeout=connection.timeout),
            )
            mailboxes = self._mailboxes(connection.name)
            return factory(connection.name, settings=settings, mailboxes=mailboxes, read_only=connection.read_only)
        raise ConfigError(f"{connection.type} connections cannot sync yet in this version", where=where)

    def _mailboxes(self, connection: str) -> list[str]:
        """The mailboxes of the integrations whose calendar is ``connection`` (what ``discover()`` lists)."""
        return [u.mailbox for i in self._settings.integrations if i.calendar == connection for u in i.users]


def is_ephemeral(state_url: str) -> bool:
    """Whether a state URL names an in-memory SQLite database, forgotten when the process ends."""
    return state_url.lower() in ("sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:")
