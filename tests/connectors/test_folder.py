"""The folder connector passes the connector contract; its files are written atomically and safely named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calsync.connectors.base import Connector, Fetched, FetchFailed
from calsync.connectors.folder import FolderConnector
from calsync.errors import InvalidItem
from calsync.model.content import Content
from tests.connectors.contract import ConnectorContract
from tests.samples import event


class TestFolderContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _root(self, tmp_path: Path) -> None:
        self.root = tmp_path / "cals"
        (self.root / self.collection).mkdir(parents=True)

    def make(self, *, read_only: bool = False) -> Connector:
        return FolderConnector(self.root, read_only=read_only)

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        path = self.root / self.collection / href
        path.write_text(text, encoding="utf-8")

    def remove_external(self, connector: Connector, href: str) -> None:
        (self.root / self.collection / href).unlink()


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    conn = FolderConnector(tmp_path)
    ref = conn.create("cal", Content.from_text(event("a1")), "a1")
    conn.update("cal", ref, Content.from_text(event("a1", "changed")))
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == ["a1.ics"]


def test_an_unsafe_href_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    conn = FolderConnector(tmp_path)
    (result,) = conn.get("cal", ["../../etc/passwd"])
    assert isinstance(result, FetchFailed) and isinstance(result.error, InvalidItem)


def test_a_file_that_is_not_utf8_is_one_failed_item(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "bad.ics").write_bytes(b"\xff\xfe garbage")
    (tmp_path / "cal" / "good.ics").write_text(event("g"), encoding="utf-8")
    conn = FolderConnector(tmp_path)
    results = {
        r.href if isinstance(r, FetchFailed) else r.ref.href: r for r in conn.get("cal", ["bad.ics", "good.ics"])
    }
    assert isinstance(results["bad.ics"], FetchFailed)
    assert isinstance(results["good.ics"], Fetched)


def test_the_token_skips_unchanged_files_without_reading_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = FolderConnector(tmp_path)
    ref = conn.create("cal", Content.from_text(event("s1")), "s1")
    token = conn.absorb_writes("cal", conn.changes("cal", None).token, [ref])

    def no_reading(data: bytes) -> str:
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr("calsync.connectors.folder.etag_of", no_reading)
    changes = conn.changes("cal", token)
    assert list(changes.changed) == [] and list(changes.deleted) == []


def test_fsync_option_writes_the_same_bytes(tmp_path: Path) -> None:
    conn = FolderConnector(tmp_path, fsync=True)
    content = Content.from_text(event("y1"))
    ref = conn.create("cal", content, "y1")
    assert (tmp_path / "cal" / ref.href).read_bytes().decode("utf-8") == content.text


def test_an_edit_that_puts_the_mtime_back_is_still_seen(tmp_path: Path) -> None:
    conn = FolderConnector(tmp_path)
    ref = conn.create("cal", Content.from_text(event("m1", "Title A")), "m1")
    token = conn.absorb_writes("cal", conn.changes("cal", None).token, [ref])
    path = tmp_path / "cal" / ref.href
    before = path.stat()
    path.write_text(event("m1", "Title B"), encoding="utf-8")  # same length, then the old mtime back
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    changes = conn.changes("cal", token)
    assert [r.href for r in changes.changed] == [ref.href]


def test_listing_one_collection_keeps_what_another_read_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One connector may serve both sides of a pair, and the engine asks both for changes before reading either."""
    from calsync.connectors import folder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "e1.ics").write_text(event(f"{name}1"), encoding="utf-8")
    connector = FolderConnector(tmp_path)
    listed = connector.changes("a", None)
    connector.changes("b", None)
    monkeypatch.setattr(folder, "_read", lambda path: pytest.fail(f"{path} was read again"))
    (fetched,) = connector.get("a", [ref.href for ref in listed.changed])
    assert isinstance(fetched, Fetched) and fetched.content.ident == "a1"
