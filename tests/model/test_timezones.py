"""Windows <-> IANA names and TZID resolution, against CLDR's table and real VTIMEZONEs of other projects."""

from __future__ import annotations

import json
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from importlib import resources
from pathlib import Path

import pytest
from icalendar import Calendar, Component

from calsync.errors import InvalidItem
from calsync.model import timezones, tznames
from calsync.model.timezones import cldr_version, iana_to_windows, resolve_tzid, windows_to_iana

DATA = Path(__file__).parents[1] / "data" / "ical"


def vtimezone(file: str) -> Component:
    """The (first) VTIMEZONE of a test calendar."""
    calendar = Calendar.from_ical((DATA / file).read_text(encoding="utf-8"))
    return calendar.walk("VTIMEZONE")[0]


def offsets(zone: tzinfo, year: int = 2026) -> tuple[timedelta | None, timedelta | None]:
    """The zone's UTC offsets in mid-January and mid-July."""
    return datetime(year, 1, 15, 12, tzinfo=zone).utcoffset(), datetime(year, 7, 15, 12, tzinfo=zone).utcoffset()


HOUR = timedelta(hours=1)


# -- the packaged table ------------------------------------------------------------------------------------


def test_the_data_file_records_the_cldr_commit_it_was_taken_from() -> None:
    raw = json.loads(resources.files("calsync.model").joinpath("data", "windows_zones.json").read_text("utf-8"))
    assert re.fullmatch(r"[0-9a-f]{40}", cldr_version())
    assert raw["cldr_commit"] == cldr_version()
    assert cldr_version() in raw["source"]
    assert len(raw["zones"]) == 139
    assert all("001" in zone["territories"] for zone in raw["zones"])


def test_every_windows_zone_maps_to_a_loadable_zone_and_back() -> None:
    for zone in tznames.table().zones:
        iana = windows_to_iana(zone.name)
        assert iana is not None
        zoneinfo.ZoneInfo(iana)
        assert iana_to_windows(iana) == zone.name


# -- Windows -> IANA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("w. europe standard time", "Europe/Berlin"),
        ("Eastern Standard Time", "America/New_York"),
        ("India Standard Time", "Asia/Kolkata"),  # CLDR says Asia/Calcutta, a renamed zone
        ("FLE Standard Time", "Europe/Kyiv"),  # CLDR says Europe/Kiev
        ("Greenwich Standard Time", "Atlantic/Reykjavik"),  # a country zone, kept though tzdata links it
        ("UTC", "Etc/UTC"),
        ("Dateline Standard Time", "Etc/GMT+12"),
        ("British Columbia Standard Time", "America/Vancouver"),  # newer than the CLDR commit
    ],
)
def test_windows_names_map_to_current_iana_names(windows: str, iana: str) -> None:
    assert windows_to_iana(windows) == iana


@pytest.mark.parametrize("name", ["Europe/Berlin", "Mars Standard Time", "", "W. Europe"])
def test_only_real_windows_names_map(name: str) -> None:
    assert windows_to_iana(name) is None


# -- IANA -> Windows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("Europe/Berlin", "W. Europe Standard Time"),
        ("Europe/Amsterdam", "W. Europe Standard Time"),  # CLDR's territory row, though tzdata links it
        ("Europe/Brussels", "Romance Standard Time"),
        ("Asia/Kolkata", "India Standard Time"),  # via the link Asia/Calcutta -> Asia/Kolkata
        ("US/Eastern", "Eastern Standard Time"),  # a link to America/New_York
        ("Europe/Uzhgorod", "FLE Standard Time"),
        ("Etc/UTC", "UTC"),
        ("PST8PDT", "Pacific Standard Time"),  # not in CLDR: matched by behaviour
    ],
)
def test_iana_names_map_to_windows_names(iana: str, windows: str) -> None:
    assert iana_to_windows(iana) == windows


def test_every_available_zone_has_a_windows_name() -> None:
    unmapped = [name for name in sorted(zoneinfo.available_timezones()) if iana_to_windows(name) is None]
    assert unmapped == []


def test_a_zone_cldr_does_not_list_gets_the_windows_zone_that_behaves_alike() -> None:
    name = "America/Coyhaique"  # added to tzdata in 2025, after the CLDR commit
    if name not in zoneinfo.available_timezones():
        pytest.skip("the tz database here predates America/Coyhaique")
    windows = iana_to_windows(name)
    assert windows is not None
    main = zoneinfo.ZoneInfo(windows_to_iana(windows) or "")
    assert offsets(main) == offsets(zoneinfo.ZoneInfo(name))


def test_a_name_that_is_no_zone_has_no_windows_name() -> None:
    assert iana_to_windows("Mars/Olympus_Mons") is None


# -- resolving TZIDs by name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tzid", "key"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ('"Europe/Berlin"', "Europe/Berlin"),
        ("/mozilla.org/20070129_1/America/New_York", "America/New_York"),
        (
            "/freeassociation.sourceforge.net/Tzfile/America/Argentina/Buenos_Aires",
            "America/Argentina/Buenos_Aires",
        ),
        ("/Europe/Stockholm", "Europe/Stockholm"),
        ("custom_Pacific/Fiji", "Pacific/Fiji"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Romance Daylight Time", "Europe/Paris"),
        ("Central Europe", "Europe/Budapest"),  # Lotus Notes drops " Standard Time"
        ("Western/Central Europe", "Europe/Budapest"),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
        ("(GMT+01.00) Amsterdam / Berlin / Bern / Rome / Stockholm / Vienna", "Europe/Berlin"),
        ("(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),
        ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
        ("(UTC-03:00) Brasília", "America/Sao_Paulo"),
        ("Hawaii", "Pacific/Honolulu"),
        ("GMT+0100", "Etc/GMT-1"),
        ("GMT -0500 (Standard) / GMT -0400 (Daylight)", "America/New_York"),
    ],
)
def test_tzids_resolve_by_name(tzid: str, key: str) -> None:
    zone = resolve_tzid(tzid)
    assert isinstance(zone, zoneinfo.ZoneInfo)
    assert zone.key == key


@pytest.mark.parametrize("tzid", ["Z", "UTC", "utc", "tzone://Microsoft/Utc"])
def test_utc_in_any_spelling_is_utc(tzid: str) -> None:
    assert offsets(resolve_tzid(tzid)) == (timedelta(0), timedelta(0))


def test_an_offset_that_no_zone_has_becomes_a_fixed_offset_named_after_the_tzid() -> None:
    zone = resolve_tzid("UTC-05:30")
    assert isinstance(zone, timezone)
    assert offsets(zone) == (-timedelta(hours=5, minutes=30),) * 2
    assert zone.tzname(None) == "UTC-05:30"


def test_a_tzid_without_any_information_is_refused() -> None:
    with pytest.raises(InvalidItem, match="Customized Time Zone"):
        resolve_tzid("Customized Time Zone")


def test_the_name_wins_over_the_vtimezone() -> None:
    # Exchange sends "W. Europe Standard Time" rules (from 1601) under an IANA TZID; the name is exact
    zone = resolve_tzid("Europe/Berlin", vtimezone("issue_27_t1.ics"))
    assert zone == zoneinfo.ZoneInfo("Europe/Berlin")


# -- resolving custom VTIMEZONEs by their rules ------------------------------------------------------------


def test_an_outlook_vtimezone_with_a_made_up_name_resolves_to_the_zone_that_behaves_alike() -> None:
    rules = vtimezone("issue_165_missing_event.ics")  # "GMT +0100 (Standard) / GMT +0200 (Daylight)"
    zone = resolve_tzid("Customized Time Zone", rules)
    assert isinstance(zone, zoneinfo.ZoneInfo)
    assert offsets(zone) == (HOUR, 2 * HOUR)
    assert iana_to_windows(zone.key) == "W. Europe Standard Time"


def test_exchange_windows_rules_from_1601_resolve_under_any_name() -> None:
    zone = resolve_tzid("tzone://Microsoft/Custom", vtimezone("issue_27_t1.ics"))
    assert isinstance(zone, zoneinfo.ZoneInfo)
    assert zone.key == "Europe/Berlin"


def test_a_custom_tzid_with_eu_rules_resolves_to_a_european_zone() -> None:
    zone = resolve_tzid("/Europe/CUSTOM", vtimezone("issue_466_respect_unique_timezone.ics"))
    assert isinstance(zone, zoneinfo.ZoneInfo)
    assert offsets(zone) == (HOUR, 2 * HOUR)
    # the switch happens at the same minute as Europe/Berlin's, not just on the same day
    switch = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert (switch - timedelta(minutes=1)).astimezone(zone).utcoffset() == HOUR
    assert switch.astimezone(zone).utcoffset() == 2 * HOUR


def test_a_fixed_vtimezone_resolves_to_a_zone_with_that_offset() -> None:
    zone = resolve_tzid("UTC+11", vtimezone("issue_218_bad_tzid.ics"))
    assert offsets(zone) == (11 * HOUR, 11 * HOUR)


def test_a_vtimezone_no_zone_matches_keeps_each_offset_it_gives() -> None:
    # +12 until 2024-05-05 08:00, +10 after: one fixed offset put every later time two hours early
    zone = resolve_tzid("MyTimezone", vtimezone("issue_722_timezone_transition_ambiguity.ics"))
    assert datetime(2024, 3, 1, 8, tzinfo=zone).utcoffset() == 12 * HOUR
    assert datetime(2024, 8, 3, 8, tzinfo=zone).astimezone(UTC) == datetime(2024, 8, 2, 22, tzinfo=UTC)
    assert datetime(2024, 5, 4, 20, tzinfo=UTC).astimezone(zone) == datetime(2024, 5, 5, 6, fold=1, tzinfo=zone)
    assert zone.tzname(None) == "MyTimezone"


def test_a_dst_vtimezone_with_offsets_no_zone_uses_keeps_summer_time() -> None:
    rules = Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\n"
        "BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0630\r\nTZOFFSETTO:+0530\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0630\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
    ).walk("VTIMEZONE")[0]
    zone = resolve_tzid("Customized Time Zone", rules)
    assert offsets(zone, 2025) == (timedelta(hours=5, minutes=30), timedelta(hours=6, minutes=30))
    assert datetime(2025, 7, 1, 10, tzinfo=zone).dst() == HOUR


def test_resolution_is_cached() -> None:
    timezones.windows_to_iana.cache_clear()
    windows_to_iana("Tokyo Standard Time")
    windows_to_iana("Tokyo Standard Time")
    assert timezones.windows_to_iana.cache_info().hits == 1
    rules = vtimezone("issue_466_respect_unique_timezone.ics")
    assert resolve_tzid("/Europe/CUSTOM", rules) is resolve_tzid("/Europe/CUSTOM", rules)
