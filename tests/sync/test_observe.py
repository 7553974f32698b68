"""Reading one side in groups: the outcome does not depend on where the groups end."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calsync.connectors.folder import FolderConnector
from calsync.state.sql import open_store
from calsync.sync import observe
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.samples import event

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def fill(folder: Path) -> None:
    """Items whose handling depends on others read before them: a UID in two files (in different groups once
    groups are small), an unreadable item, one outside the window, and plain ones."""
    folder.mkdir(parents=True)
    for n in range(25):
        (folder / f"{n:02}.ics").write_bytes(event(f"uid-{n}", f"Visit {n}").encode())
    (folder / "03-copy.ics").write_bytes(event("uid-3", "Visit 3, copied").encode())
    (folder / "20-copy.ics").write_bytes(event("uid-20", "Visit 20").encode())
    (folder / "bad.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (folder / "old.ics").write_bytes(event("old", "Long ago", day="20240105").encode())


def outcome(root: Path) -> tuple[list[tuple[str, str, str, str]], dict[str, bytes]]:
    fill(root / "a" / "cal")
    (root / "b" / "cal").mkdir(parents=True)
    store = open_store(root / "state.db")
    try:
        spec = PairSpec("p", Endpoint(FolderConnector(root / "a"), "cal"), Endpoint(FolderConnector(root / "b"), "cal"))
        report = sync_pair(spec, store, RunOptions(now=NOW))
    finally:
        store.close()
    lines = sorted((line.ident, line.href, line.action, line.outcome) for line in report.lines)
    copies = {p.name: p.read_bytes() for p in (root / "b" / "cal").iterdir()}
    return lines, copies


@pytest.mark.parametrize("group", [1, 4, 7])
def test_groups_of_any_size_give_the_outcome_of_one_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: int
) -> None:
    whole = outcome(tmp_path / "whole")
    monkeypatch.setattr(observe, "_GROUP", group)
    shutil.rmtree(tmp_path / "whole")
    grouped = outcome(tmp_path / "grouped")
    assert grouped == whole
    lines, copies = whole
    failed = {(ident, href) for ident, href, _action, result in lines if result == "error"}
    assert failed == {("uid-3", "03-copy.ics"), ("uid-20", "20.ics"), ("", "bad.ics")}  # one line per duplicate
    assert len(copies) == 23  # 25 items, less the two carried by two files; the old one stays outside the window
    assert "uid-3.ics" not in copies and "uid-20.ics" not in copies and "old.ics" not in copies
