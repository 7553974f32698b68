"""Property tests: random user edits, failed writes and crashes, then the invariants of DESIGN.md.

A hypothesis state machine drives two memory stores (B rewrites what it stores, as real servers do) through a
real SQLite state store. After every step: no side holds two copies of one item. After every clean sync: the
sides agree wherever the mode says they must, no user change is lost (the last change since the sides last
agreed wins, and where both sides changed an item, the policy's winner wins and a conflict was recorded), and a
rerun with no change writes nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from calsync.connectors.base import Connector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import Unavailable
from calsync.model.canonical import scan
from calsync.model.refs import Side
from calsync.model.window import Window
from calsync.state.sql import SQLStore, open_store
from calsync.sync.actions import Written
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.report import Report
from calsync.sync.rules import Mode, PairPolicy
from tests.samples import event

IDENTS = ("u1", "u2", "u3", "u4")
COLL = "cal"
_pairs = itertools.count()


class SimulatedCrash(BaseException):
    """Raised between a remote write and its state commit: the process 'dies' there."""


def server_rewrite(text: str) -> str:
    """What Radicale does on save: its own PRODID, properties reordered, durations respelled."""
    text = re.sub(r"PRODID:[^\r\n]*", "PRODID:-//Radicale//NONSGML Radicale Server//EN", text)
    lines = text.split("\r\n")
    body = [ln for ln in lines if ln.startswith(("SUMMARY", "DTSTART", "DTEND", "UID", "DTSTAMP"))]
    rest = [ln for ln in lines if ln not in body]
    at = rest.index("BEGIN:VEVENT") + 1 if "BEGIN:VEVENT" in rest else 0
    return "\r\n".join(rest[:at] + sorted(body, reverse=True) + rest[at:])


def titles(conn: MemoryConnector) -> dict[str, list[str]]:
    """Every item's title by identity (a list, to see duplicates)."""
    found: dict[str, list[str]] = {}
    for text in conn.texts(COLL).values():
        facts = scan(text).facts
        found.setdefault(facts.ident, []).append(facts.title)
    return found


_store_path: list[Path] = []


def shared_store() -> SQLStore:
    """One SQLite store for all examples (each example syncs its own pair, so state never mixes)."""
    return open_store(str(_store_path[0]))


class SyncMachine(RuleBasedStateMachine):
    """Two stores, one pair, and a user who edits both sides between syncs."""

    mode = Mode.TWO_WAY
    read_only_a = False

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()
        self.a = MemoryConnector("a", read_only=self.read_only_a, fail_writes=self._fault)
        self.b = MemoryConnector("b", fail_writes=self._fault, rewrite=server_rewrite)
        self.a.make_collection(COLL)
        self.b.make_collection(COLL)
        self.store = shared_store()
        policy = PairPolicy(mode=self.mode, read_only_a=self.read_only_a)
        self.spec = PairSpec(
            f"pair-{next(_pairs)}", Endpoint(self.a, COLL), Endpoint(self.b, COLL), policy, window=None
        )
        self.since_agreement: dict[str, dict[Side, str | None]] = {}
        self.conflicts: set[str] = set()
        self.counter = itertools.count()

    def sync_b_on(self, side: Any, connector: Connector, collection: str, name: str) -> None:
        """Put B on a real connector's ``collection``; ``side`` is how the test edits it as a user would (anything
        with the memory store's ``put_raw``/``remove_raw``/``texts``). A stays a memory store that fails writes on
        demand. For the connector-specific machines (Graph, EWS)."""
        self.b = side
        self.a = MemoryConnector("a", fail_writes=self._fault)
        self.a.make_collection(COLL)
        policy = PairPolicy(mode=self.mode)
        self.spec = PairSpec(
            f"{name}-pair-{next(_pairs)}", Endpoint(self.a, COLL), Endpoint(connector, collection), policy, window=None
        )

    def teardown(self) -> None:
        self.store.close()

    def _fault(self, operation: str, href: str) -> Unavailable | None:
        return (
            Unavailable("injected failure")
            if href.split(".", maxsplit=1)[0].split("-", maxsplit=1)[0] in self.failing
            else None
        )

    def _conn(self, side: Side) -> MemoryConnector:
        return self.a if side is Side.A else self.b

    # -- the user -----------------------------------------------------------------------------------------------

    @rule(side=st.sampled_from(Side), ident=st.sampled_from(IDENTS))
    def user_writes(self, side: Side, ident: str) -> None:
        if side is Side.A and self.read_only_a:
            return
        conn = self._conn(side)
        hrefs = [h for h, t in conn.texts(COLL).items() if scan(t).facts.ident == ident]
        n = next(self.counter)
        title = f"{ident} {side.value} {n}"
        conn.put_raw(COLL, hrefs[0] if hrefs else f"{ident}-{n}.ics", event(ident, title))
        self.since_agreement.setdefault(ident, {})[side] = title

    @rule(side=st.sampled_from(Side), ident=st.sampled_from(IDENTS))
    def user_deletes(self, side: Side, ident: str) -> None:
        if side is Side.A and self.read_only_a:
            return
        conn = self._conn(side)
        hrefs = [h for h, t in conn.texts(COLL).items() if scan(t).facts.ident == ident]
        if hrefs:
            conn.remove_raw(COLL, hrefs[0])
            self.since_agreement.setdefault(ident, {})[side] = None

    # -- syncs --------------------------------------------------------------------------------------------------

    def _sync(self, **options: object) -> Report:
        options.setdefault("allow_mass_delete", True)  # the user's deletions are meant (the guard has its tests)
        report = sync_pair(self.spec, self.store, RunOptions(**options))  # type: ignore[arg-type]
        self.conflicts |= {line.ident for line in report.lines if line.outcome == "conflict"}
        self.conflicts |= {a.ident for a in report.planned if a.conflict}
        self._forget_agreed()
        return report

    @rule(failing=st.sets(st.sampled_from(IDENTS), min_size=1))
    def sync_with_failed_writes(self, failing: set[str]) -> None:
        self.failing = failing
        try:
            report = self._sync()
        finally:
            self.failing = set()
        assert all(line.outcome != "error" or line.ident in failing or line.action == "read" for line in report.lines)

    @rule(after=st.integers(min_value=1, max_value=4))
    def sync_that_crashes(self, after: int) -> None:
        self._sync_crashing(after)

    def _sync_crashing(self, after: int, **options: object) -> None:
        """A run that crashes right after its ``after``-th remote write, before that write's link is recorded."""
        writes = itertools.count(1)

        def crash(_written: Written) -> None:
            if next(writes) == after:
                raise SimulatedCrash

        with contextlib.suppress(SimulatedCrash):
            self._sync(after_write=crash, checkpoint_every=2, **options)
        self._forget_agreed()

    @rule()
    def clean_sync(self) -> None:
        if self._settled_next_run(self._sync()):
            self._sync()
        self.check_converged()
        writes = (self.a.writes, self.b.writes)
        again = self._sync()
        assert again.writes == 0, again.lines
        assert (self.a.writes, self.b.writes) == writes
        self._settled()

    def _settled(self) -> None:
        """After a clean sync every change is settled: the sides agree on every item."""
        self.since_agreement.clear()
        self.conflicts.clear()

    def _settled_next_run(self, report: Report) -> bool:
        """Whether a clean sync leaves something to the next run by design (``KeepOnBMachine``); nowhere else."""
        return False

    def _forget_agreed(self) -> None:
        """An item both sides show alike is a new baseline: earlier edits to it are settled."""
        ta, tb = titles(self.a), titles(self.b)
        for ident in list(self.since_agreement):
            if ta.get(ident) == tb.get(ident) and self.mode is Mode.TWO_WAY:
                del self.since_agreement[ident]

    # -- the invariants -----------------------------------------------------------------------------------------

    @invariant()
    def no_side_holds_two_copies(self) -> None:
        for side in Side:
            for ident, found in titles(self._conn(side)).items():
                assert len(found) == 1, f"{ident} is on {side} {len(found)} times"

    def check_converged(self) -> None:
        ta, tb = titles(self.a), titles(self.b)
        assert ta == tb, f"sides differ after a clean sync: {ta} != {tb}"
        for ident, acts in self.since_agreement.items():
            final = ta[ident][0] if ident in ta else None
            assert final == self.expected(ident, acts), (ident, acts, final)

    def expected(self, ident: str, acts: dict[Side, str | None]) -> str | None:
        if Side.A not in acts:
            return acts[Side.B]
        if Side.B not in acts:
            return acts[Side.A]
        ea, eb = acts[Side.A], acts[Side.B]
        if ea is None or eb is None:
            return eb if ea is None else ea  # an edit beats a deletion; two deletions stay deleted
        assert ident in self.conflicts, f"{ident} changed on both sides but no conflict was recorded"
        return ea  # A wins by the default policy


class OneWayMachine(SyncMachine):
    """A mirrors to B; A is read-only: B's edits are overwritten, B's extra items deleted, A never written."""

    mode = Mode.A_TO_B
    read_only_a = True

    def check_converged(self) -> None:
        assert titles(self.a) == titles(self.b)
        assert self.a.writes == 0


class FullSyncMachine(SyncMachine):
    """Two-way, with full syncs (the token ignored, every item listed) mixed in, some of them crashing."""

    @rule()
    def full_sync(self) -> None:
        self._sync(full=True)

    @rule(after=st.integers(min_value=1, max_value=3))
    def full_sync_that_crashes(self, after: int) -> None:
        self._sync_crashing(after, full=True)


class TokenlessWindowMachine(SyncMachine):
    """Two-way over stores without sync tokens (every run lists everything, one item per read), with a window
    around the sample events: the path of servers that cannot say what changed."""

    def __init__(self) -> None:
        super().__init__()
        for store in (self.a, self.b):
            store.capabilities = replace(store.capabilities, has_sync_token=False, max_batch=1)
        self.spec = replace(self.spec, window=(30, 30))

    def _sync(self, **options: object) -> Report:
        return super()._sync(now=_SAMPLES_DAY, **options)


class KeepOnBMachine(SyncMachine):
    """Two-way with deletions on B switched off: a deletion on A leaves B's copy (parked, the user's now), so
    after a clean sync every item on A is on B alike, and B may hold more."""

    def __init__(self) -> None:
        super().__init__()
        self.spec = replace(self.spec, policy=replace(self.spec.policy, delete_on_b=False))

    def check_converged(self) -> None:
        ta, tb = titles(self.a), titles(self.b)
        assert all(tb.get(ident) == found for ident, found in ta.items()), f"A's items differ on B: {ta} {tb}"

    def _settled_next_run(self, report: Report) -> bool:
        """A kept copy edited while its link was parked, then the item back on A: the write of A's version meets
        a version the link does not know, a lost race that the next run settles as a conflict (invariant 3),
        never an overwrite; only then is the pair converged."""
        return any(line.outcome == "conflict" and "while syncing" in line.message for line in report.lines)


_SAMPLES_DAY = datetime(2026, 11, 21, 12, tzinfo=UTC)
"""Near the day of ``tests.samples.event``, so a window around it holds every sample."""

_DAYS = {offset: (date(2026, 11, 23) + timedelta(days=offset)).strftime("%Y%m%d") for offset in (-40, 0, 50, 80)}
"""Days an item may be put on, around the samples' day: behind the window, in it, and ahead of it; as time passes
(a month at a time, twice) each in turn enters the window and leaves it behind."""
_FEW = IDENTS[:2]
"""Two items: few enough that a search meets the same one again across its moves in time."""


class WindowMachine(SyncMachine):
    """Two-way over stores with sync tokens, a 30/30 window, items on days behind, in and ahead of it, moved to
    other names, full syncs, and time passing: what items entering and leaving the window do to the user's
    changes.

    Outside the window the sides need not agree, so the invariants are these, after every clean sync: an item
    the user deleted on one side, the other side's copy untouched since they last agreed and nothing written
    since, is not on that side (never brought back); the side the user last wrote an item on still holds it
    (never deleted for them); items whose copies both lie in the window agree; a rerun writes nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spec = replace(self.spec, window=(30, 30))
        self.now = _SAMPLES_DAY
        self.deleted: dict[str, Side] = {}
        self.written: dict[str, Side] = {}
        self.on_both: set[str] = set()
        """Items on both sides at the last check and deleted by no user since: no sync may take one away."""
        self.crashing = False

    @rule(side=st.sampled_from(Side), ident=st.sampled_from(_FEW), day=st.sampled_from(sorted(_DAYS)))
    def user_writes(self, side: Side, ident: str, day: int = 0) -> None:  # type: ignore[override]
        conn = self._conn(side)
        hrefs = [h for h, t in conn.texts(COLL).items() if scan(t).facts.ident == ident]
        n = next(self.counter)
        title = f"{ident} {side.value} {n}"
        conn.put_raw(COLL, hrefs[0] if hrefs else f"{ident}-{n}.ics", event(ident, title, day=_DAYS[day]))
        self.since_agreement.setdefault(ident, {})[side] = title
        self.deleted.pop(ident, None)
        self.written[ident] = side

    @rule(side=st.sampled_from(Side), ident=st.sampled_from(_FEW))
    def user_deletes(self, side: Side, ident: str) -> None:
        conn = self._conn(side)
        hrefs = [h for h, t in conn.texts(COLL).items() if scan(t).facts.ident == ident]
        if not hrefs:
            return
        untouched = side.other not in self.since_agreement.get(ident, {})
        conn.remove_raw(COLL, hrefs[0])
        self.since_agreement.setdefault(ident, {})[side] = None
        self.written.pop(ident, None)
        self.on_both.discard(ident)
        if untouched and ident not in self.deleted:
            self.deleted[ident] = side
        elif not untouched:
            self.deleted.pop(ident, None)

    @rule(side=st.sampled_from(Side), ident=st.sampled_from(_FEW))
    def user_moves(self, side: Side, ident: str) -> None:
        """A client saves the item unchanged under another name (a calendar moved and back, say)."""
        conn = self._conn(side)
        found = [(h, t) for h, t in conn.texts(COLL).items() if scan(t).facts.ident == ident]
        if found:
            href, text = found[0]
            conn.remove_raw(COLL, href)
            conn.put_raw(COLL, f"{ident}-{next(self.counter)}.ics", text)

    @rule(side=st.sampled_from(Side), ident=st.sampled_from(_FEW), day=st.sampled_from(sorted(_DAYS)))
    def user_saves_elsewhere(self, side: Side, ident: str, day: int) -> None:
        """A client saves an edit as a delete and a create: the item under another name, on another day."""
        conn = self._conn(side)
        hrefs = [h for h, t in conn.texts(COLL).items() if scan(t).facts.ident == ident]
        if not hrefs:
            return
        conn.remove_raw(COLL, hrefs[0])
        n = next(self.counter)
        title = f"{ident} {side.value} {n}"
        conn.put_raw(COLL, f"{ident}-{n}.ics", event(ident, title, day=_DAYS[day]))
        self.since_agreement.setdefault(ident, {})[side] = title
        self.deleted.pop(ident, None)
        self.written[ident] = side

    @rule()
    def full_sync(self) -> None:
        self._sync(full=True)

    @rule()
    def time_passes(self) -> None:
        if self.now < _SAMPLES_DAY + timedelta(days=60):
            self.now += timedelta(days=30)

    def _sync(self, **options: object) -> Report:
        return super()._sync(now=self.now, **options)

    def _settled(self) -> None:
        """Outside the window the sides need not agree: what agrees is forgotten after each sync instead."""

    def _settled_next_run(self, report: Report) -> bool:
        """An edit made outside the window is not recorded (it syncs when it enters): a write the plan makes over
        it meets a version the link does not know, a lost race that the next run settles as a conflict."""
        return any(line.outcome == "conflict" and "while syncing" in line.message for line in report.lines)

    def _sync_crashing(self, after: int, **options: object) -> None:
        """As the base, but sides alike after a crash have not agreed: the crashed run's last write is not
        recorded, and the next run cannot tell it from one never made (a copy the user deletes meanwhile is
        made again: the safe side of a crash)."""
        self.crashing = True
        try:
            super()._sync_crashing(after, **options)
        finally:
            self.crashing = False

    def _forget_agreed(self) -> None:
        if self.crashing:
            return
        ta, tb = titles(self.a), titles(self.b)
        for ident in list(self.since_agreement):
            if ta.get(ident) == tb.get(ident):
                del self.since_agreement[ident]

    def check_converged(self) -> None:
        held = {side: _days(self._conn(side)) for side in Side}
        for ident, side in self.deleted.items():
            assert ident not in held[side], f"{ident}, deleted on {side}, is back there"
        for ident, side in self.written.items():
            assert ident in held[side], f"{ident}, last written on {side}, is gone from there"
        window = Window.around(self.now, 30, 30)
        for ident in self.on_both:
            assert all(ident in held[side] for side in Side), f"{ident}, deleted by no one, is gone from a side"
        self.on_both = set(held[Side.A]) & set(held[Side.B])
        ta, tb = titles(self.a), titles(self.b)
        for ident in set(held[Side.A]) & set(held[Side.B]):
            if all(window.overlaps(*held[side][ident]) for side in Side):
                assert ta[ident] == tb[ident], f"{ident} differs in the window: {ta[ident]} != {tb[ident]}"


def _days(conn: MemoryConnector) -> dict[str, tuple[float | None, float | None]]:
    return {scan(text).facts.ident: scan(text).facts.span for text in conn.texts(COLL).values()}


@pytest.fixture(autouse=True)
def _store_file(tmp_path: Path) -> Iterator[None]:
    _store_path[:] = [tmp_path / "state.db"]
    yield


machine_settings = settings(
    max_examples=int(os.environ.get("CALSYNC_PROPERTY_EXAMPLES", "60")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTwoWay = SyncMachine.TestCase
TestTwoWay.settings = machine_settings
TestOneWay = OneWayMachine.TestCase
TestOneWay.settings = machine_settings
TestFullSyncs = FullSyncMachine.TestCase
TestFullSyncs.settings = machine_settings
TestTokenlessWindow = TokenlessWindowMachine.TestCase
TestTokenlessWindow.settings = machine_settings
TestKeepOnB = KeepOnBMachine.TestCase
TestKeepOnB.settings = machine_settings
TestWindow = WindowMachine.TestCase
TestWindow.settings = settings(machine_settings, stateful_step_count=50)
