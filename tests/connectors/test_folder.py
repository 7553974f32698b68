"""The folder connector passes the connector contract; its files are written atomically and safely named."""

from __future__ import annotations

import codecs
import errno
import os
import stat
import time
from pathlib import Path

import pytest

from calsync.connectors.base import Connector, Fetched, FetchFailed
from calsync.connectors.folder import FolderConnector
from calsync.errors import ConnectorError, InvalidItem, NotFound
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

    monkeypatch.setattr("calsync.connectors.folder.connector.etag_of", no_reading)
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
    monkeypatch.setattr(folder.connector, "_read", lambda path: pytest.fail(f"{path} was read again"))
    (fetched,) = connector.get("a", [ref.href for ref in listed.changed])
    assert isinstance(fetched, Fetched) and fetched.content.ident == "a1"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_short_write_is_finished_not_linked_into_place_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write may take fewer bytes than given (a disk nearly full, a signal): the rest is written after it."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[:1000]))
    content = Content.from_text(event("w1", extra="DESCRIPTION:" + "y" * 6000 + "\r\n"))
    ref = FolderConnector(tmp_path).create("cal", content, "w1")
    assert (tmp_path / "cal" / ref.href).read_bytes() == content.text.encode("utf-8")


@pytest.mark.skipif(os.name != "posix", reason="a file-size limit is a POSIX resource limit")
def test_a_write_the_disk_stops_taking_fails_and_leaves_no_file(tmp_path: Path) -> None:
    """Like a disk with 4 KiB left: the kernel takes 4096 bytes, then refuses the rest."""
    import resource

    (tmp_path / "cal").mkdir()
    conn = FolderConnector(tmp_path)
    content = Content.from_text(event("big", extra="DESCRIPTION:" + "y" * 6000 + "\r\n"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(ConnectorError, match="cannot write a new item in cal"):
            conn.create("cal", content, "big")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert _names(tmp_path / "cal") == []


def test_a_write_that_takes_no_bytes_fails_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    taken: list[int] = []

    def then_none(fd: int, data: bytes) -> int:
        taken.append(real_write(fd, bytes(data)[:100]) if not taken else 0)
        return taken[-1]

    conn = FolderConnector(tmp_path)
    ref = conn.create("cal", Content.from_text(event("z1")), "z1")
    monkeypatch.setattr(os, "write", then_none)
    with pytest.raises(ConnectorError, match=f"cannot write {ref.href} in cal"):
        conn.update("cal", ref, Content.from_text(event("z1", "changed")))
    assert _names(tmp_path / "cal") == [ref.href]
    assert (tmp_path / "cal" / ref.href).read_bytes() == event("z1").encode("utf-8")


def test_a_write_the_disk_refuses_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cal").mkdir()

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(ConnectorError, match="No space left on device"):
        FolderConnector(tmp_path).create("cal", Content.from_text(event("f1")), "f1")
    assert _names(tmp_path / "cal") == []


def test_a_listing_removes_temporary_files_left_long_ago_only(tmp_path: Path) -> None:
    """A live write's temporary file is seconds old: only ours older than an hour go, and only when writable."""
    cal = tmp_path / "cal"
    cal.mkdir()
    for name in (".41-0.tmp", ".41-1.tmp", ".notes.tmp"):
        (cal / name).write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for name in (".41-0.tmp", ".notes.tmp"):
        os.utime(cal / name, (two_hours_ago, two_hours_ago))
    FolderConnector(tmp_path, read_only=True).changes("cal", None)
    assert _names(cal) == [".41-0.tmp", ".41-1.tmp", ".notes.tmp"]
    FolderConnector(tmp_path).changes("cal", None)
    assert _names(cal) == [".41-1.tmp", ".notes.tmp"]


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need privileges on Windows")
def test_a_link_to_nothing_is_unreadable_never_deleted(tmp_path: Path) -> None:
    """The link's target is on a drive that is not mounted now: a deletion would delete the other side's copy."""
    (tmp_path / "cal").mkdir()
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "x.ics").write_text(event("x"), encoding="utf-8")
    (tmp_path / "cal" / "x.ics").symlink_to(usb / "x.ics")
    conn = FolderConnector(tmp_path)
    token = conn.changes("cal", None).token
    usb.rename(tmp_path / "unmounted")
    for changes in (conn.changes("cal", token), conn.changes("cal", None)):
        assert [r.href for r in changes.changed] == ["x.ics"] and list(changes.deleted) == []
    assert [r.href for r in conn.list("cal", None)] == ["x.ics"]
    (result,) = conn.get("cal", ["x.ics"])
    assert isinstance(result, FetchFailed) and not isinstance(result.error, NotFound)
    assert "links to nothing" in str(result.error)


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need privileges on Windows")
def test_an_update_writes_through_a_link_to_its_target(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    shared = tmp_path / "shared" / "team-meeting.ics"
    shared.parent.mkdir()
    shared.write_text(event("x", "Original"), encoding="utf-8")
    (tmp_path / "cal" / "x.ics").symlink_to(Path("..", "shared", "team-meeting.ics"))  # relative
    conn = FolderConnector(tmp_path)
    token = conn.changes("cal", None).token
    (listed,) = conn.list("cal", None)
    ref = conn.update("cal", listed, Content.from_text(event("x", "Edited")))
    assert (tmp_path / "cal" / "x.ics").is_symlink()
    assert "Edited" in shared.read_text(encoding="utf-8")
    assert _names(tmp_path / "cal") == ["x.ics"] and _names(shared.parent) == ["team-meeting.ics"]
    changes = conn.changes("cal", conn.absorb_writes("cal", token, [ref]))
    assert list(changes.changed) == [] and list(changes.deleted) == []  # its own write, absorbed


@pytest.mark.skipif(os.sep == "\\", reason="a backslash separates folders on Windows")
def test_a_name_with_a_backslash_is_read_and_written_alike(tmp_path: Path) -> None:
    """Legal on Linux and macOS; a name the listing reads must be one update and delete accept."""
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "Team\\Weekly.ics").write_text(event("w"), encoding="utf-8")
    conn = FolderConnector(tmp_path)
    (listed,) = conn.changes("cal", None).changed
    (fetched,) = conn.get("cal", [listed.href])
    assert isinstance(fetched, Fetched)
    ref = conn.update("cal", fetched.ref, Content.from_text(event("w", "Edited")))
    (again,) = FolderConnector(tmp_path).get("cal", [ref.href])  # no read-ahead: read by name
    assert isinstance(again, Fetched) and again.content.facts.title == "Edited"
    conn.delete("cal", ref)
    assert _names(tmp_path / "cal") == []


def test_a_byte_order_mark_is_dropped_and_versions_stay_those_of_the_bytes(tmp_path: Path) -> None:
    """Windows Notepad starts UTF-8 files with one."""
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "bom.ics").write_bytes(codecs.BOM_UTF8 + event("bom").encode("utf-8"))
    conn = FolderConnector(tmp_path)
    (listed,) = conn.changes("cal", None).changed
    for fresh in (False, True):  # from the listing's read-ahead, then read again
        (fetched,) = (FolderConnector(tmp_path) if fresh else conn).get("cal", ["bom.ics"])
        assert isinstance(fetched, Fetched) and fetched.ref == listed
        assert fetched.content.ident == "bom" and fetched.content.text == event("bom")
    conn.update("cal", listed, Content.from_text(event("bom", "Edited")))  # the version check agrees
    assert (tmp_path / "cal" / "bom.ics").read_bytes() == event("bom", "Edited").encode("utf-8")


def test_fsync_option_syncs_the_folder_after_placing_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new name is in the folder's entries: without syncing them, a power cut may lose a synced file."""
    real_fsync = os.fsync
    synced: list[str] = []

    def recording(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    plain = FolderConnector(tmp_path)
    plain.update("cal", plain.create("cal", Content.from_text(event("p1")), "p1"), Content.from_text(event("p1", "x")))
    assert synced == []
    durable = FolderConnector(tmp_path, fsync=True)
    ref = durable.create("cal", Content.from_text(event("d1")), "d1")
    assert synced == ["file", "folder"]
    durable.update("cal", ref, Content.from_text(event("d1", "changed")))
    assert synced == ["file", "folder"] * 2
