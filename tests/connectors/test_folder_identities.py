"""The folder connector refuses a second file of one identity, as a CalDAV server refuses a second item of one
UID: through the UIDs its listings read (carried in the sync token), or a read of the folder before any."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from calsync.connectors.folder import FolderConnector, identities
from calsync.connectors.folder import connector as folder_connector
from calsync.errors import AlreadyExists, ConnectorError, InvalidItem
from calsync.model.canonical import ICALENDAR, VCARD
from calsync.model.content import Content
from tests.samples import contact, event

ALARM = "BEGIN:VALARM\r\nUID:{uid}\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\n"
OVERRIDE = "BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20261130T090000Z\r\nDTSTART:20261130T100000Z\r\nEND:VEVENT\r\n"


@pytest.fixture
def cal(tmp_path: Path) -> Path:
    (tmp_path / "cal").mkdir()
    return tmp_path / "cal"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the files read, by listings and by a create's confirmation (a name found free is no read)."""
    read: list[str] = []
    real = identities._read

    def recording(path: str) -> bytes:
        data = real(path)
        read.append(path)
        return data

    for module in (identities, folder_connector):
        monkeypatch.setattr(module, "_read", recording)
    return read


def _refused(conn: FolderConnector, key: str) -> str:
    """The href the create of ``key`` is refused with."""
    with pytest.raises(AlreadyExists) as raised:
        conn.create("cal", Content.from_text(event(key, "from the other side")), key)
    return raised.value.href


def _names(cal: Path) -> list[str]:
    return sorted(p.name for p in cal.iterdir())


def test_the_token_tells_a_later_run_who_holds_what_and_only_the_holder_is_read(cal: Path, reads: list[str]) -> None:
    (cal / "users-own-name.ics").write_text(event("x", "made in the calendar"), encoding="utf-8")
    for i in range(3):
        (cal / f"other-{i}.ics").write_text(event(f"o{i}"), encoding="utf-8")
    token = FolderConnector(cal.parent).changes("cal", None).token
    later = FolderConnector(cal.parent)
    reads.clear()
    assert list(later.changes("cal", token).changed) == []
    assert _refused(later, "x") == "users-own-name.ics"
    assert reads == [str(cal / "users-own-name.ics")]  # confirmed by reading it; no other file read again
    assert _names(cal) == ["other-0.ics", "other-1.ics", "other-2.ics", "users-own-name.ics"]


def test_what_a_run_wrote_is_in_the_token_with_its_identity(cal: Path, reads: list[str]) -> None:
    """Absorbed into the token without being read, a file this connector wrote is known by what it holds (here
    an item whose identity is not its key, so it lies at a name another key's create does not look at)."""
    conn = FolderConnector(cal.parent)
    token = conn.changes("cal", None).token
    ref = conn.create("cal", Content.from_text(event("x")), "order-4711")
    token = conn.absorb_writes("cal", token, [ref])
    later = FolderConnector(cal.parent)
    reads.clear()
    assert list(later.changes("cal", token).changed) == []
    assert _refused(later, "x") == ref.href and reads == [str(cal / ref.href)]


def test_the_token_carries_each_uid_and_a_name_that_is_no_safe_key_is_found(cal: Path) -> None:
    """A UID that is no safe file name is created at a hashed name, so a user's file named by it lies elsewhere:
    a holder like any other."""
    (cal / "team meeting.ics").write_text(event("team meeting", extra=ALARM.format(uid="alarm")), encoding="utf-8")
    token = FolderConnector(cal.parent).changes("cal", None).token
    assert json.loads(token or "")["files"]["team meeting.ics"][5:] == ["team meeting", "alarm"]
    later = FolderConnector(cal.parent)
    later.changes("cal", token)
    assert _refused(later, "team meeting") == "team meeting.ics"


def test_a_create_before_any_listing_reads_the_folder_once(cal: Path, reads: list[str]) -> None:
    (cal / "users-own-name.ics").write_text(event("x"), encoding="utf-8")
    (cal / "notes.ics").write_text(event("n"), encoding="utf-8")
    conn = FolderConnector(cal.parent)
    assert _refused(conn, "x") == "users-own-name.ics"
    assert sorted(reads) == [str(cal / "notes.ics")] + [str(cal / "users-own-name.ics")] * 2  # listed, confirmed
    reads.clear()
    assert conn.create("cal", Content.from_text(event("y")), "y").href == "y.ics"
    assert reads == []


def test_list_too_tells_a_create_who_holds_what(cal: Path, reads: list[str]) -> None:
    (cal / "users-own-name.ics").write_text(event("x", day="20250101"), encoding="utf-8")
    conn = FolderConnector(cal.parent)
    conn.list("cal", None)
    reads.clear()
    assert _refused(conn, "x") == "users-own-name.ics" and reads == [str(cal / "users-own-name.ics")]


@pytest.mark.parametrize("then", ["removed", "rewritten with another UID"])
def test_a_stale_index_entry_never_blocks_a_create(cal: Path, then: str) -> None:
    holder = cal / "users-own-name.ics"
    holder.write_text(event("x"), encoding="utf-8")
    conn = FolderConnector(cal.parent)
    conn.changes("cal", None)
    if then == "removed":
        holder.unlink()
    else:
        holder.write_text(event("another"), encoding="utf-8")
    ref = conn.create("cal", Content.from_text(event("x", "arrived")), "x")
    assert ref.href == "x.ics" and Content.from_text((cal / "x.ics").read_text(encoding="utf-8")).ident == "x"


def test_an_alarms_uid_holds_no_item(cal: Path) -> None:
    """The index names every UID line; only a file whose item has the identity holds it."""
    (cal / "dentist.ics").write_text(event("dentist", extra=ALARM.format(uid="x")), encoding="utf-8")
    conn = FolderConnector(cal.parent)
    conn.changes("cal", None)
    assert conn.create("cal", Content.from_text(event("x")), "x").href == "x.ics"


@pytest.mark.parametrize(
    "uid_line",
    ["UID:users-\r\n own-uid\r\n", "uid:users-own-uid\r\n", 'UID;X-ORIGIN="a;b:c":users-own-uid \r\n'],
    ids=["folded", "lowercase", "quoted-parameter"],
)
def test_a_holder_is_found_however_its_uid_line_is_written(cal: Path, uid_line: str) -> None:
    text = event("users-own-uid").replace("UID:users-own-uid\r\n", uid_line)
    (cal / "users-own-name.ics").write_text(text, encoding="utf-8")
    conn = FolderConnector(cal.parent)
    conn.changes("cal", None)
    assert _refused(conn, "users-own-uid") == "users-own-name.ics"


def test_a_retried_create_returns_its_first_copy_though_another_file_holds_the_item(cal: Path) -> None:
    """As a server answers a retry: the key's own name is where it looks first."""
    conn = FolderConnector(cal.parent)
    first = conn.create("cal", Content.from_text(event("x")), "x")
    (cal / "copy.ics").write_bytes((cal / first.href).read_bytes())  # the user copies the file
    conn.list("cal", None)
    assert conn.create("cal", Content.from_text(event("x")), "x") == first
    assert _names(cal) == ["copy.ics", "x.ics"]


def test_a_token_of_the_format_without_uids_has_every_file_read_again(cal: Path) -> None:
    (cal / "users-own-name.ics").write_text(event("x"), encoding="utf-8")
    files = json.loads(FolderConnector(cal.parent).changes("cal", None).token or "")["files"]
    old = json.dumps({"v": 2, "files": {name: signature[:5] for name, signature in files.items()}})
    later = FolderConnector(cal.parent)
    changes = later.changes("cal", old)
    assert changes.complete and [ref.href for ref in changes.changed] == ["users-own-name.ics"]
    assert _refused(later, "x") == "users-own-name.ics"


@pytest.mark.parametrize(
    ("text", "uids"),
    [
        (event("plain"), ["plain"]),
        (event("a", extra=ALARM.format(uid="alarm")), ["a", "alarm"]),
        (event("s").replace("END:VCALENDAR", OVERRIDE + "END:VCALENDAR"), ["s"]),  # a series: each value once
        (event("  spaced  "), ["spaced"]),
        (event("cr").replace("\r\n", "\r"), ["cr"]),  # lines ended by a lone CR
        (event("lf").replace("\r\n", "\n"), ["lf"]),
        (event("fold").replace("UID:fold", "UID:fo\n\tld"), ["fold"]),
        (event("fold").replace("UID:fold", 'uId;X-A="x:\r\n y";X-B=1:f\r\n old'), ["fold"]),
        (event("e", extra="DESCRIPTION:fluid: uid:\r\nX-UID:not-an-id\r\nX-A.UID:a-group's\r\n"), ["e"]),
        (event("end").rstrip("\r\n").replace("END:VCALENDAR", "UID:last"), ["end", "last"]),  # no line end
        (contact("card").replace("UID:card", "item1.uid:card"), ["card"]),
        (contact("card").replace("UID:card", ".UID;VALUE=text:card"), ["card"]),
        (contact("card").replace("UID:card", "EMAIL;X=1.UID:card"), []),
        ("no uid at all", []),
        ("BEGIN:VCARD\r\nUID;no-colon\r\nEND:VCARD\r\n", []),
    ],
)
def test_uids_are_read_from_the_bytes_as_the_content_reads_them(text: str, uids: list[str]) -> None:
    media_type = VCARD if text.startswith("BEGIN:VCARD") else ICALENDAR
    assert identities.uids_of(text.encode("utf-8"), media_type) == uids
    try:
        ident = Content.from_text(text, media_type).ident
    except InvalidItem:
        return
    assert ident in uids


def test_a_vcard_holder_is_found_after_a_group(tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    card = contact("ada").replace("UID:ada", "item1.uid:ada")
    (tmp_path / "book" / "Ada Lovelace.vcf").write_text(card, encoding="utf-8")
    conn = FolderConnector(tmp_path, extension=".vcf")
    conn.changes("book", None)
    with pytest.raises(AlreadyExists) as raised:
        conn.create("book", Content.from_text(contact("ada", "Ada King"), VCARD), "ada")
    assert raised.value.href == "Ada Lovelace.vcf" and _names(tmp_path / "book") == ["Ada Lovelace.vcf"]


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need privileges on Windows")
def test_a_file_unreadable_for_now_keeps_its_uids_and_fails_the_create_it_may_hold(cal: Path) -> None:
    """Its target on a drive not mounted now: the token keeps what it last held; a create cannot confirm it, and
    writes no second copy that would meet it when the drive is back (this item fails this run only)."""
    usb = cal.parent / "usb"
    usb.mkdir()
    (usb / "x.ics").write_text(event("x"), encoding="utf-8")
    (cal / "users-link.ics").symlink_to(usb / "x.ics")
    conn = FolderConnector(cal.parent)
    token = conn.changes("cal", None).token
    usb.rename(cal.parent / "unmounted")
    token = conn.changes("cal", token).token
    assert json.loads(token or "")["files"]["users-link.ics"][:4] == [-1, -1, -1, -1]
    assert json.loads(token or "")["files"]["users-link.ics"][5:] == ["x"]
    with pytest.raises(ConnectorError):
        conn.create("cal", Content.from_text(event("x")), "x")
    assert _names(cal) == ["users-link.ics"]


def _export(*uids: str) -> str:
    """A whole calendar exported into one file (one VCALENDAR of several events): no item to calsync."""
    vevents = [
        "BEGIN:VEVENT" + event(uid).partition("BEGIN:VEVENT")[2].replace("END:VCALENDAR\r\n", "") for uid in uids
    ]
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//export//EN\r\n" + "".join(vevents) + "END:VCALENDAR\r\n"


def test_a_file_of_many_items_is_read_once_however_many_creates_it_names(cal: Path, reads: list[str]) -> None:
    """A calendar export dropped in the folder names every event of it in the index and holds none of them (it
    is no one item). Reading and scanning it again for each create makes a first sync quadratic: 2,000 events
    in it cost 50 ms a create, 10,000 about a quarter of a second each."""
    uids = [f"e{i}" for i in range(5)]
    (cal / "backup.ics").write_text(_export(*uids), encoding="utf-8")
    conn = FolderConnector(cal.parent)
    conn.changes("cal", None)
    reads.clear()
    for uid in uids:
        conn.create("cal", Content.from_text(event(uid)), uid)
    assert reads.count(str(cal / "backup.ics")) <= 1


def test_a_holder_that_cannot_be_read_now_is_no_licence_for_a_second_copy(
    cal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index says the file held the item when it was last read; an I/O error (a failing disk, a share gone
    away) says nothing about what it holds now. Writing the item beside it leaves two files of one UID once it
    reads again, and the engine then syncs neither; refusing fails this item for this run only."""
    (cal / "users-own-name.ics").write_text(event("x"), encoding="utf-8")
    conn = FolderConnector(cal.parent)
    conn.changes("cal", None)
    real = identities._read

    def failing(path: str) -> bytes:
        if path.endswith("users-own-name.ics"):
            raise OSError(5, "Input/output error", path)
        return real(path)

    monkeypatch.setattr(identities, "_read", failing)
    with pytest.raises(ConnectorError):
        conn.create("cal", Content.from_text(event("x", "from the other side")), "x")
    assert _names(cal) == ["users-own-name.ics"]


@pytest.mark.parametrize(
    "edit",
    [("UID:x", "U\r\n ID:x"), ("UID:x", "UID\r\n :x"), ("\r\nUID:x", "\rUID:x")],
    ids=["folded-in-the-name", "folded-before-the-colon", "lone-cr-before-the-uid-line"],
)
def test_a_holder_is_found_wherever_the_content_reads_its_uid(cal: Path, edit: tuple[str, str]) -> None:
    """``Content.ident`` unfolds anywhere and takes a lone CR for a line end; the index should read as much."""
    text = event("x").replace(*edit)
    assert Content.from_text(text).ident == "x"
    (cal / "users-own-name.ics").write_bytes(text.encode("utf-8"))
    conn = FolderConnector(cal.parent)
    conn.changes("cal", None)
    assert _refused(conn, "x") == "users-own-name.ics"


def test_a_connector_keeps_no_listing_of_the_collections_it_is_done_with(tmp_path: Path) -> None:
    """One connector serves every user of a folder integration in one run (``hub_sync``), and its listings were
    kept to the end: each collection's token text, or its index once a create asked (measured, 20 collections of
    2,000 files: 8 MB retained by quiet pairs, 14 MB with one create each; none before). A pair lists its two
    sides just before it writes, so the last two listings are all a create needs."""
    conn = FolderConnector(tmp_path)
    for user in range(5):
        (tmp_path / f"u{user}").mkdir()
        (tmp_path / f"u{user}" / "e.ics").write_text(event(f"e{user}"), encoding="utf-8")
        conn.changes(f"u{user}", None)
        conn.create(f"u{user}", Content.from_text(event(f"new{user}")), f"new{user}")
    kept = set(conn._identities._listed) | set(conn._identities._index)
    assert len(kept) <= 2
