"""The SQL state store, on SQLite and PostgreSQL alike (every ``store``/``backend`` test runs on both)."""

from __future__ import annotations

import gc
import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, select
from sqlalchemy.exc import SQLAlchemyError

from calsync.errors import ConfigError, PairLocked, StateError
from calsync.model.refs import Side
from calsync.state.sql import SQLStore, database_url, open_store
from calsync.state.store import NO_STATUS, Link, Pending, SideStatus
from calsync.state.tables.sync import links, sync_tokens
from tests.state.conftest import Backend, owner_of


def make_link(ident: str, version: str = "1") -> Link:
    """A link whose fields all differ, so a swapped column shows up in a comparison."""
    return Link(
        ident,
        SideStatus(f"/a/{ident}", f"a-v{version}", f"a-digest-{ident}-{version}"),
        SideStatus(f"/b/{ident}.ics", f'"b-v{version}"', f"b-digest-{ident}-{version}"),
    )


def stored_links(store: SQLStore, pair: str = "p") -> dict[str, Link]:
    with store.open_pair(pair) as state:
        return state.links()


# -- links ---------------------------------------------------------------------------------------------------


def test_links_round_trip(store: SQLStore) -> None:
    recorded = {ident: make_link(ident) for ident in ("one", "two", "ünïcode@example.com")}
    with store.open_pair("p") as state:
        assert state.links() == {}
        for link in recorded.values():
            state.put_link(link)
    assert stored_links(store) == recorded


def test_a_pending_write_round_trips_and_clears(store: SQLStore) -> None:
    confirmed = make_link("x")
    creating = Link("x", confirmed.a, NO_STATUS, Pending(Side.B, confirmed.a, "digest-being-written"))
    updating = replace(confirmed, pending=Pending(Side.A, confirmed.b, "other-digest"))
    with store.open_pair("p") as state:
        state.put_link(creating)
        state.put_link(make_link("plain"))
    assert stored_links(store) == {"x": creating, "plain": make_link("plain")}
    with store.open_pair("p") as state:
        state.put_link(updating)
    assert stored_links(store)["x"] == updating
    with store.open_pair("p") as state:
        state.put_link(confirmed)
    assert stored_links(store)["x"] == confirmed


def test_put_link_replaces_and_drop_link_forgets(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("kept"))
        state.put_link(make_link("changed"))
        state.put_link(make_link("dropped"))
    with store.open_pair("p") as state:
        state.put_link(make_link("changed", version="2"))
        state.drop_link("dropped")
        state.drop_link("never-existed")
    assert stored_links(store) == {"kept": make_link("kept"), "changed": make_link("changed", "2")}


def test_links_shows_what_is_recorded_but_not_yet_checkpointed(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("old"))
    with store.open_pair("p") as state:
        state.drop_link("old")
        state.put_link(make_link("new"))
        state.put_link(make_link("put-then-dropped"))
        state.drop_link("put-then-dropped")
        assert state.links() == {"new": make_link("new")}


def test_pairs_do_not_share_links_or_tokens(store: SQLStore) -> None:
    with store.open_pair("first") as state:
        state.put_link(make_link("same-ident", version="first"))
        state.set_token(Side.A, "first-token")
    with store.open_pair("second") as state:
        state.put_link(make_link("same-ident", version="second"))
    assert stored_links(store, "first") == {"same-ident": make_link("same-ident", "first")}
    assert stored_links(store, "second") == {"same-ident": make_link("same-ident", "second")}
    with store.open_pair("second") as state:
        assert state.token(Side.A) is None


def test_loading_links_leaves_the_garbage_collector_as_it_was(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
        state.checkpoint()
        assert gc.isenabled()
        assert state.links() == {"x": make_link("x")}
        assert gc.isenabled()
        gc.disable()
        try:
            state.links()
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_ten_thousand_links_round_trip(store: SQLStore) -> None:
    recorded = {f"item-{n:05d}@example.com": make_link(f"item-{n:05d}@example.com") for n in range(10_000)}
    with store.open_pair("big") as state:
        for link in recorded.values():
            state.put_link(link)
        state.checkpoint()
        for ident in list(recorded)[::2]:
            state.drop_link(ident)
    assert stored_links(store, "big") == {ident: recorded[ident] for ident in list(recorded)[1::2]}


# -- checkpoints ---------------------------------------------------------------------------------------------


def test_an_exception_loses_only_what_came_after_the_last_checkpoint(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("before"))
        state.set_token(Side.A, "token-1")
    with pytest.raises(RuntimeError, match="crash"), store.open_pair("p") as state:
        state.put_link(make_link("checkpointed"))
        state.checkpoint()
        state.put_link(make_link("lost"))
        state.put_link(make_link("before", version="lost"))
        state.drop_link("checkpointed")
        state.set_token(Side.A, "token-lost")
        raise RuntimeError("crash")
    with store.open_pair("p") as state:
        assert state.links() == {"before": make_link("before"), "checkpointed": make_link("checkpointed")}
        assert state.token(Side.A) == "token-1"


def test_checkpoint_commits_links_and_tokens_together(backend: Backend, store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
        state.set_token(Side.B, "t")
        assert backend.scalar("SELECT count(*) FROM links") == 0
        state.checkpoint()
        assert backend.scalar("SELECT count(*) FROM links") == 1
        assert backend.scalar("SELECT token FROM sync_tokens") == "t"


def test_checkpoint_stamps_what_it_writes_in_utc(backend: Backend, store: SQLStore) -> None:
    before = datetime.now(UTC)
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
        state.set_token(Side.A, "t")
    for column in (links.c.updated_at, sync_tokens.c.updated_at):
        stamp = backend.scalar(select(column))
        assert stamp.tzinfo is UTC
        assert before - timedelta(seconds=5) <= stamp <= datetime.now(UTC) + timedelta(seconds=5)


# -- tokens --------------------------------------------------------------------------------------------------


def test_tokens_are_per_side_and_can_be_cleared(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        assert state.token(Side.A) is None
        state.set_token(Side.A, "sync-a")
        state.set_token(Side.B, "sync-b")
        assert state.token(Side.A) == "sync-a"
    with store.open_pair("p") as state:
        assert (state.token(Side.A), state.token(Side.B)) == ("sync-a", "sync-b")
        state.set_token(Side.A, "sync-a2")
        state.set_token(Side.B, None)
    with store.open_pair("p") as state:
        assert (state.token(Side.A), state.token(Side.B)) == ("sync-a2", None)


def test_a_one_megabyte_token_round_trips(store: SQLStore) -> None:
    token = '{"delta": "' + "ünï-" * 262_144 + '"}'
    assert len(token.encode()) > 1_000_000
    with store.open_pair("p") as state:
        state.set_token(Side.B, token)
    with store.open_pair("p") as state:
        assert state.token(Side.B) == token


# -- locks ---------------------------------------------------------------------------------------------------


def test_a_lock_excludes_another_store_until_released(backend: Backend, store: SQLStore) -> None:
    other = open_store(backend.url)
    try:
        with store.lock_pair("p", "worker-1"):
            with (
                pytest.raises(PairLocked, match="pair 'p' is locked by 'worker-1'"),
                other.lock_pair("p", "w2"),
            ):
                pass
            with other.lock_pair("another pair", "w2"):
                pass
        with other.lock_pair("p", "w2"):
            assert backend.scalar("SELECT owner FROM locks") == "w2"
        assert backend.scalar("SELECT count(*) FROM locks") == 0
    finally:
        other.close()


def test_a_lock_is_not_reentrant(store: SQLStore) -> None:
    with store.lock_pair("p", "me"), pytest.raises(PairLocked), store.lock_pair("p", "me"):
        pass


_TRY_LOCK = """
import sys
from calsync.errors import PairLocked
from calsync.state.sql import open_store
store = open_store(sys.argv[1])
try:
    with store.lock_pair("p", "child process"):
        print("acquired")
except PairLocked as exc:
    print("refused:", exc)
"""


def test_a_lock_excludes_another_process(backend: Backend, store: SQLStore) -> None:
    with store.lock_pair("p", "parent process"):
        assert backend.run_python(_TRY_LOCK).startswith("refused:")
    assert backend.run_python(_TRY_LOCK) == "acquired"


def test_racing_stores_get_exactly_one_lock(backend: Backend) -> None:
    racers = 4
    stores = [open_store(backend.url) for _ in range(racers)]
    start, done = threading.Barrier(racers, timeout=60), threading.Barrier(racers, timeout=60)
    won: list[str] = []
    refused: list[str] = []

    def race(n: int) -> None:
        start.wait()
        try:
            with stores[n].lock_pair("p", f"racer-{n}"):
                won.append(f"racer-{n}")
                done.wait()
        except PairLocked:
            refused.append(f"racer-{n}")
            done.wait()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for opened in stores:
            opened.close()
    assert len(won) == 1
    assert len(refused) == racers - 1


def test_a_long_run_keeps_its_lock_by_renewing_it(backend: Backend, store: SQLStore) -> None:
    other = open_store(backend.url)
    try:
        with store.lock_pair("p", "long run", ttl_seconds=0.6):
            time.sleep(1.5)  # well past the TTL: renewed every 0.2 s
            with pytest.raises(PairLocked, match="long run"), other.lock_pair("p", "second"):
                pass
        assert backend.scalar("SELECT count(*) FROM locks") == 0
    finally:
        other.close()


def test_an_expired_lock_is_taken_over_and_its_old_owner_does_not_release_it(backend: Backend, store: SQLStore) -> None:
    other = open_store(backend.url)
    try:
        with ExitStack() as taken_over:
            with store.lock_pair("p", "slow", ttl_seconds=60):
                # the holder stopped renewing (its machine froze, say): the lease ran out
                backend.scalar("UPDATE locks SET expires_at = :past", past=datetime(2000, 1, 1))
                taken_over.enter_context(other.lock_pair("p", "next", ttl_seconds=60))
            assert backend.scalar("SELECT owner FROM locks") == "next"
            with pytest.raises(PairLocked, match="next"), store.lock_pair("p", "third"):
                pass
        assert backend.scalar("SELECT count(*) FROM locks") == 0
    finally:
        other.close()


def test_a_lock_is_released_when_the_block_raises(store: SQLStore) -> None:
    with pytest.raises(RuntimeError), store.lock_pair("p", "me"):
        raise RuntimeError("run failed")
    with store.lock_pair("p", "someone else"):
        pass


def test_a_lock_needs_a_positive_ttl(store: SQLStore) -> None:
    with pytest.raises(ValueError, match="ttl"), store.lock_pair("p", "me", ttl_seconds=0):
        pass


# -- errors --------------------------------------------------------------------------------------------------


def test_a_closed_store_raises_state_error(store: SQLStore) -> None:
    store.close()
    with pytest.raises(StateError, match="closed"):
        store.jobs()
    with pytest.raises(StateError, match="closed"), store.open_pair("p"):
        pass


def test_an_unreachable_database_is_a_state_error_without_the_password(backend: Backend, tmp_path: Path) -> None:
    if backend.kind == "sqlite":
        not_a_database = tmp_path / "garbage.db"
        not_a_database.write_bytes(b"this is not a SQLite file, " * 1000)
        url = f"sqlite:///{not_a_database}"
    else:
        refused = make_url(backend.url).set(username="calsync", password="s3cret-pw", port=1)
        url = refused.render_as_string(hide_password=False)
    with pytest.raises(StateError) as caught:
        open_store(url)
    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    assert "s3cret-pw" not in str(caught.value)


def test_a_broken_schema_is_a_state_error_that_names_the_table(backend: Backend, store: SQLStore) -> None:
    backend.scalar("DROP TABLE links")
    with pytest.raises(StateError, match="links") as caught, store.open_pair("p") as state:
        state.links()
    assert isinstance(caught.value.__cause__, SQLAlchemyError)


def test_a_naive_datetime_is_refused(store: SQLStore) -> None:
    with pytest.raises(StateError, match="naive"):
        store.prune_jobs(datetime(2020, 1, 1))


# -- opening -------------------------------------------------------------------------------------------------


def test_database_url_understands_paths_and_postgres_urls(tmp_path: Path) -> None:
    assert database_url(tmp_path / "s.db").render_as_string() == f"sqlite:///{tmp_path / 's.db'}"
    assert database_url(str(tmp_path / "s.db")) == database_url(tmp_path / "s.db")
    assert database_url("~/s.db").database == str(Path.home() / "s.db")
    assert database_url("sqlite:///x.db").render_as_string() == "sqlite:///x.db"
    pg = database_url("postgresql://u:pw@db.example:5433/calsync")
    assert (pg.drivername, pg.host, pg.port, pg.password) == ("postgresql+psycopg", "db.example", 5433, "pw")
    assert database_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert database_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"
    with pytest.raises(ConfigError, match="unsupported"):
        database_url("mysql://u:secret@h/d")
    with pytest.raises(ConfigError) as caught:
        database_url("mysql://u:secret@h/d")
    assert "secret" not in str(caught.value)


def test_a_bare_path_opens_sqlite_in_wal_mode_creating_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    store = open_store(path)
    try:
        with store.open_pair("p") as state:
            state.put_link(make_link("x"))
        assert stored_links(store) == {"x": make_link("x")}
    finally:
        store.close()
    sqlite = Backend("sqlite", f"sqlite:///{path}")
    assert sqlite.scalar("PRAGMA journal_mode") == "wal"


def test_an_in_memory_database_works_for_one_process() -> None:
    store = open_store("sqlite://")
    try:
        with store.open_pair("p") as state:
            state.put_link(make_link("x"))
        assert stored_links(store) == {"x": make_link("x")}
    finally:
        store.close()


def test_a_lease_left_by_a_killed_process_on_this_host_is_taken_over(store: SQLStore) -> None:
    import contextlib
    import subprocess
    import sys

    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    with contextlib.ExitStack() as never_released:
        never_released.enter_context(store.lock_pair("p", owner_of(int(ended.stdout))))  # then killed
        with store.lock_pair("p", "rerun"):  # its process is gone: the lease is void
            pass
    with contextlib.ExitStack() as held:
        held.enter_context(store.lock_pair("q", owner_of(1)))  # a process that is running
        with pytest.raises(PairLocked), store.lock_pair("q", "rerun"):
            pass


def test_a_lease_of_this_pid_from_an_earlier_process_is_taken_over(store: SQLStore) -> None:
    """A process restarted in the same process table with the same PID: the old incarnation's lease is void."""
    import os

    from calsync.state.store import owner_is_dead, run_owner

    earlier = owner_of(os.getpid())
    assert owner_is_dead(earlier) and not owner_is_dead(run_owner())
    with store.lock_pair("p", earlier, ttl_seconds=3600), store.lock_pair("p", run_owner()):
        pass  # taken over at once, not after an hour


def test_a_lease_of_another_process_table_waits_for_its_expiry(store: SQLStore) -> None:
    """Two containers with the host's network, or two machines given one name, share a host name but number
    their processes apart: a PID from the other one says nothing here, so its lease is never taken for dead."""
    import os
    import subprocess
    import sys

    from calsync.state.store import owner_is_dead

    pid = [sys.executable, "-c", "import os; print(os.getpid())"]
    ended = int(subprocess.run(pid, capture_output=True, check=True).stdout)
    elsewhere = [owner_of(ended, table="0ther000"), owner_of(os.getpid(), table="0ther000"), owner_of(ended, table="")]
    assert not any(owner_is_dead(owner) for owner in elsewhere)
    assert not owner_is_dead(f"an-older-form:{ended}")
    with ExitStack() as held:
        held.enter_context(store.lock_pair("p", elsewhere[0]))
        with pytest.raises(PairLocked), store.lock_pair("p", "rerun"):
            pass


def test_a_run_that_lost_its_lease_records_nothing_more(backend: Backend, store: SQLStore) -> None:
    """Invariant 5 when a holder froze past its TTL (a suspended VM) and another run took the pair over: the
    first run's next checkpoint raises and writes nothing; the second run's lease stays."""
    from calsync.errors import LeaseLost

    other = open_store(backend.url)
    try:
        with ExitStack() as second_run, store.lock_pair("p", "first", ttl_seconds=60):
            with store.open_pair("p") as state:
                state.put_link(make_link("before"))
                state.checkpoint()
                backend.scalar("UPDATE locks SET expires_at = :past", past=datetime(2000, 1, 1))
                second_run.enter_context(other.lock_pair("p", "second", ttl_seconds=60))
                state.put_link(make_link("after"))
                state.set_token(Side.A, "first's token")
                with pytest.raises(LeaseLost, match="pair:p"):
                    state.checkpoint()
                state.discard()
            assert backend.scalar("SELECT owner FROM locks") == "second"
        assert set(stored_links(store)) == {"before"}
        with other.open_pair("p") as seen:
            assert seen.token(Side.A) is None
    finally:
        other.close()


def test_a_pair_state_opened_without_the_lock_is_not_fenced(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
    assert set(stored_links(store)) == {"x"}


def test_a_failed_renewal_is_tried_again_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two renewal turns missed in a row let a lease run out while its run goes on: a failure is retried soon."""
    from calsync.state import lease as leases

    monkeypatch.setattr(leases, "RETRY_SECONDS", 0.05)
    attempts: list[float] = []

    def renew(held: leases.Lease, ttl: float) -> leases.Lease | None:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise StateError("the database is out of reach")
        return held

    renewer = leases.Renewer(renew, leases.Lease("pair:p", "me", datetime.now(UTC)), ttl_seconds=3.0)
    renewer.start()
    try:
        deadline = time.monotonic() + 5
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        renewer.stop()
    assert len(attempts) >= 3
    assert attempts[2] - attempts[0] < 0.5  # not a turn (1 s) apart each
