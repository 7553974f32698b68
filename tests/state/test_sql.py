"""The SQL state store, on SQLite and PostgreSQL alike (every ``store``/``backend`` test runs on both)."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from calsync.errors import ConfigError, PairLocked, StateError
from calsync.model.refs import Side
from calsync.state.sql import SQLStore, database_url, open_store
from tests.state.conftest import Backend, make_link, owner_of, stored_links

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
