"""The syncing service: settings become engine specs with the right connectors and policy, pairs run one after
the other with one outcome each, and one failing pair does not stop the others."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from calsync.config import Settings, load_settings, parse_settings
from calsync.connectors.folder import FolderConnector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import ConfigError, NotFound
from calsync.services.syncing import (
    PairOutcome,
    build_pair_specs,
    connections_not_runnable,
    is_ephemeral,
    open_state_store,
    select_pairs,
    sync_pairs,
)
from calsync.sync.rules import ConflictPolicy, Mode
from tests.samples import event

SOON = (date.today() + timedelta(days=2)).strftime("%Y%m%d")


def write_config(tmp_path: Path, pairs: str, extra: str = "") -> Path:
    config = tmp_path / "calsync.toml"
    config.write_text(
        f"""
[[connections]]
name = "biz"
type = "folder"
path = "biz"

[[connections]]
name = "cal"
type = "folder"
path = "cal"
read_only = false
{extra}
{pairs}
""",
        encoding="utf-8",
    )
    return config


def pair(name: str, a: str, b: str, more: str = "") -> str:
    return f'[[pairs]]\nname = "{name}"\na = "{a}"\nb = "{b}"\n{more}\n'


def put(folder: Path, uid: str, title: str = "Visit") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uid}.ics").write_text(event(uid, title, day=SOON), encoding="utf-8")


def settings_for(tmp_path: Path, pairs: str, extra: str = "") -> Settings:
    return load_settings(write_config(tmp_path, pairs, extra), {})


def run(settings: Settings, names: list[str] | None = None, **options: bool) -> list[PairOutcome]:
    flags = {"dry_run": False, "full": False, "allow_mass_delete": False} | options
    return sync_pairs(settings, names, **flags)


def test_specs_carry_the_configured_policy_window_and_connectors(tmp_path: Path) -> None:
    more = 'mode = "b-to-a-merge"\ndelete_on_b = false\nwindow = "all"\nmass_delete = { max_count = 7 }'
    settings = settings_for(tmp_path, pair("p", "biz:x", "cal:y", more), extra="")
    (spec,) = build_pair_specs(settings)
    assert spec.name == "p" and spec.window is None
    assert isinstance(spec.a.connector, FolderConnector) and spec.a.connector.root == tmp_path / "biz"
    assert (spec.a.collection, spec.b.collection) == ("x", "y")
    assert spec.policy.mode is Mode.B_TO_A_MERGE and spec.policy.conflict is ConflictPolicy.A_WINS
    assert (spec.policy.delete_on_a, spec.policy.delete_on_b) == (True, False)
    assert spec.policy.guard.max_count == 7


def test_pairs_on_one_connection_share_its_connector(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, pair("p", "biz:x", "cal:x") + pair("q", "biz:y", "cal:y"))
    p, q = build_pair_specs(settings)
    assert p.a.connector is q.a.connector and p.b.connector is q.b.connector


def test_a_read_only_connection_makes_its_side_read_only(tmp_path: Path) -> None:
    config = write_config(tmp_path, pair("p", "biz:x", "cal:x"))
    config.write_text(config.read_text(encoding="utf-8").replace("read_only = false", "read_only = true"))
    (spec,) = build_pair_specs(load_settings(config, {}))
    assert (spec.policy.read_only_a, spec.policy.read_only_b) == (False, True)


def test_unknown_pair_names_fail_before_anything_runs(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, pair("p", "biz:x", "cal:x"))
    with pytest.raises(ConfigError, match="no pair called 'nope'; known: p"):
        run(settings, ["p", "nope"])
    assert not (tmp_path / "calsync.db").exists()
    assert [p.name for p in select_pairs(settings, ["p", "p"])] == ["p"]


def test_no_pairs_at_all_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no \\[\\[pairs\\]\\] are configured"):
        run(settings_for(tmp_path, ""))


def test_every_connection_type_runs_and_an_exchange_pair_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.connectors.ews.connector import EwsConnector

    monkeypatch.setenv("P", "the-service-password")
    ews = (
        '[[connections]]\nname = "dav"\ntype = "ews"\nauth = "impersonation"\nurl = "https://ews.example.com/"\n'
        'username = "u"\npassword_env = "P"\n'
    )
    settings = settings_for(tmp_path, pair("p", "biz:x", "dav:anna"), extra=ews)
    assert connections_not_runnable(settings) == []
    (spec,) = build_pair_specs(settings)
    assert isinstance(spec.b.connector, EwsConnector)


def test_sync_copies_both_ways_and_a_rerun_writes_nothing(tmp_path: Path) -> None:
    put(tmp_path / "biz" / "x", "visit-1")
    put(tmp_path / "cal" / "x", "lunch-1", "Lunch")
    settings = settings_for(tmp_path, pair("p", "biz:x", "cal:x"))
    (first,) = run(settings)
    assert first.report is not None and first.error is None and not first.failed
    assert (first.report.a.created, first.report.b.created) == (1, 1)
    assert sorted(p.name for p in (tmp_path / "cal" / "x").iterdir()) == ["lunch-1.ics", "visit-1.ics"]
    (second,) = run(settings)
    assert second.report is not None and second.report.writes == 0 and second.report.unchanged == 2
    assert (first.a, first.b) == ("biz:x", "cal:x")


def test_a_dry_run_plans_and_writes_nothing(tmp_path: Path) -> None:
    put(tmp_path / "biz" / "x", "visit-1")
    (tmp_path / "cal" / "x").mkdir(parents=True)
    (outcome,) = run(settings_for(tmp_path, pair("p", "biz:x", "cal:x")), dry_run=True)
    assert outcome.report is not None and outcome.report.dry_run
    assert [(a.kind.value, a.ident) for a in outcome.report.planned] == [("create", "visit-1")]
    assert list((tmp_path / "cal" / "x").iterdir()) == []


def test_one_failing_pair_does_not_stop_the_others(tmp_path: Path) -> None:
    put(tmp_path / "biz" / "x", "visit-1")
    (tmp_path / "cal" / "x").mkdir(parents=True)
    settings = settings_for(tmp_path, pair("broken", "biz:missing", "cal:x") + pair("fine", "biz:x", "cal:x"))
    broken, fine = run(settings)
    assert broken.failed and isinstance(broken.error, NotFound) and broken.report is None
    assert "missing" in broken.message
    assert fine.report is not None and fine.report.b.created == 1


def test_progress_is_reported_per_pair(tmp_path: Path) -> None:
    put(tmp_path / "biz" / "x", "visit-1")
    (tmp_path / "cal" / "x").mkdir(parents=True)
    calls: list[tuple[str, str, int, int]] = []
    sync_pairs(
        settings_for(tmp_path, pair("p", "biz:x", "cal:x")),
        None,
        dry_run=False,
        full=False,
        allow_mass_delete=False,
        progress=lambda *call: calls.append(call),
    )
    assert calls[0] == ("p", "starting", 0, 0)
    assert ("p", "writing", 1, 1) in calls
    assert {call[0] for call in calls} == {"p"}


def test_ready_made_connectors_are_used_as_they_are(tmp_path: Path) -> None:
    text = _MEMORY_STATE + '[[connections]]\nname = "m1"\ntype = "memory"\n'
    text += '[[connections]]\nname = "m2"\ntype = "memory"\n' + pair("p", "m1:c", "m2:c")
    settings = load_settings(_write(tmp_path, text), {})
    m1, m2 = MemoryConnector("m1"), MemoryConnector("m2")
    m1.put_raw("c", "v.ics", event("visit-1", day=SOON))
    m2.make_collection("c")
    (outcome,) = sync_pairs(
        settings, None, dry_run=False, full=False, allow_mass_delete=False, connectors={"m1": m1, "m2": m2}
    )
    assert outcome.report is not None and outcome.report.b.created == 1
    assert list(m2.texts("c")) == ["visit-1.ics"]


def test_memory_connections_built_from_settings_need_an_in_memory_state(tmp_path: Path) -> None:
    memory = '[[connections]]\nname = "mem"\ntype = "memory"\n'
    settings = settings_for(tmp_path, pair("p", "biz:x", "mem:x"), extra=memory)
    with pytest.raises(ConfigError, match="forgets its items") as info:
        build_pair_specs(settings)
    assert info.value.where.endswith("pairs[1].b")
    in_memory = settings_for(tmp_path, pair("p", "biz:x", "mem:x"), extra=memory + _MEMORY_STATE)
    put(tmp_path / "biz" / "x", "visit-1")
    (outcome,) = run(in_memory)
    assert outcome.report is not None and outcome.report.b.created == 1


_MEMORY_STATE = '[state]\nurl = "sqlite:///:memory:"\n'


def test_is_ephemeral() -> None:
    assert is_ephemeral("sqlite:///:memory:") and is_ephemeral("sqlite://")
    assert not is_ephemeral("/var/lib/calsync/state.db") and not is_ephemeral("postgresql://db/calsync")


def test_an_unexpected_error_is_an_outcome_named_by_its_type() -> None:
    outcome = PairOutcome("p", "a:x", "b:x", error=ZeroDivisionError("division by zero"))
    assert outcome.failed and outcome.message == "ZeroDivisionError: division by zero"
    assert PairOutcome("p", "a:x", "b:x").message == ""


def test_the_state_password_is_read_from_its_reference_when_the_store_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("calsync.state.sql.open_store", opened.append)
    monkeypatch.setenv("CALSYNC_TEST_DB_PASSWORD", "p@ss/word")
    state = {"url": "postgresql://calsync@db.internal/calsync", "password_env": "CALSYNC_TEST_DB_PASSWORD"}
    settings = parse_settings({"state": state}, source="t", base=tmp_path, environ={})
    open_state_store(settings)
    assert opened == ["postgresql+psycopg://calsync:p%40ss%2Fword@db.internal/calsync"]
    assert "p@ss" not in repr(settings)


@pytest.mark.postgres
def test_sync_with_the_state_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The production path: the state URL from CALSYNC_STATE_URL (12-factor), a PostgreSQL server."""
    url = postgres_url
    name = f"services-{uuid.uuid4().hex[:12]}"
    put(tmp_path / "biz" / "x", "visit-1")
    (tmp_path / "cal" / "x").mkdir(parents=True)
    settings = load_settings(write_config(tmp_path, pair(name, "biz:x", "cal:x")), {"CALSYNC_STATE_URL": url})
    (first,) = run(settings)
    (second,) = run(settings)
    assert first.report is not None and first.report.b.created == 1
    assert second.report is not None and second.report.writes == 0
    assert not (tmp_path / "calsync.db").exists()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_connection_re_pointed_under_the_same_name_starts_its_pairs_afresh(tmp_path: Path) -> None:
    """The pair still names ``cal:work``, but the connection now reaches another folder: its links name the
    first folder's items, and kept, every one was taken as deleted there and deleted on A."""
    for uid in ("e1", "e2", "e3"):
        put(tmp_path / "biz" / "work", uid)
    (tmp_path / "cal" / "work").mkdir(parents=True)
    first = settings_for(tmp_path, pair("p", "biz:work", "cal:work"))
    assert run(first)[0].report.b.created == 3  # type: ignore[union-attr]
    put(tmp_path / "elsewhere" / "work", "mine")  # the new folder holds an item of its own: not found empty
    config = write_config(tmp_path, pair("p", "biz:work", "cal:work"))
    config.write_text(config.read_text(encoding="utf-8").replace('path = "cal"', 'path = "elsewhere"'), "utf-8")
    report = run(load_settings(config, {}), full=True)[0].report
    assert report is not None
    assert (report.a.deleted, report.b.created, report.a.created) == (0, 3, 1)
    assert "before" in report.warnings[0]
    assert len(list((tmp_path / "biz" / "work").iterdir())) == 4


def test_a_config_file_named_through_a_symlink_names_the_same_folders(tmp_path: Path) -> None:
    """The binding follows the folder, not how the path to the config file was spelled: else each change of
    spelling (a cron job's and an admin's) started the pair afresh and brought back items deleted meanwhile."""
    put(tmp_path / "biz" / "work", "e1")
    put(tmp_path / "biz" / "work", "e2")
    (tmp_path / "cal" / "work").mkdir(parents=True)
    config = write_config(tmp_path, pair("p", "biz:work", "cal:work"))
    assert run(load_settings(config, {}))[0].report.b.created == 2  # type: ignore[union-attr]
    (tmp_path / "cal" / "work" / "e1.ics").unlink()
    (tmp_path.parent / f"{tmp_path.name}-link").symlink_to(tmp_path, target_is_directory=True)
    spelled = tmp_path.parent / f"{tmp_path.name}-link" / ".." / f"{tmp_path.name}-link" / "calsync.toml"
    report = run(load_settings(spelled, {}))[0].report
    assert report is not None and report.warnings == []
    assert (report.a.deleted, report.b.created) == (1, 0)
