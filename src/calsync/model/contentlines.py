"""Content lines of iCalendar and vCard text (RFC 5545 section 3.1, RFC 6350 section 3.3), read cheaply.

The hot-path helpers the canonical scan and the fact reader share: unfolding, splitting a line into name,
parameters and value, and the value spellings that servers vary (durations, TZIDs, TEXT escaping).
"""

from __future__ import annotations

import re
from functools import lru_cache

from calsync.errors import InvalidItem

DURATION = re.compile(r"([+-]?)P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_DAY_SECONDS = 86400


def unfold(text: str) -> list[str]:
    """Content lines with RFC 5545 folding undone and line endings normalised; blank lines dropped."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n " in text or "\n\t" in text:
        text = text.replace("\n ", "").replace("\n\t", "")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the line ending of the last line
    return [line for line in lines if line] if "" in lines else lines


def split_line(line: str) -> tuple[str, list[str], str]:
    """A content line as (NAME, [params], value); params are kept as written, quotes respected."""
    colon = line.find(":")
    if colon <= 0:
        raise InvalidItem(f"not a content line: {line[:60]!r}")
    semi = line.find(";", 0, colon)
    if semi < 0:
        name = line[:colon]
        return (name if name.isupper() else name.upper()), [], line[colon + 1 :]
    if '"' not in line:
        name = line[:semi]
        return (
            (name if name.isupper() else name.upper()),
            line[semi + 1 : colon].split(";"),
            line[colon + 1 :],
        )
    return _split_quoted(line, semi)


def _split_quoted(line: str, semi: str | int) -> tuple[str, list[str], str]:
    """The slow path of ``split_line``: parameter values in quotes may hold ``:`` and ``;``."""
    params: list[str] = []
    start = i = int(semi) + 1
    quoted = False
    while i < len(line):
        ch = line[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in ";:":
            params.append(line[start:i])
            if ch == ":":
                return line[: int(semi)].upper(), params, line[i + 1 :]
            start = i + 1
        i += 1
    raise InvalidItem(f"content line without a value: {line[:60]!r}")


@lru_cache(maxsize=256)
def canonical_tzid(tzid: str) -> str:
    """An IANA name for a Windows zone name, or the TZID as written (stripped of a leading ``/``)."""
    from calsync.model.timezones import windows_to_iana

    tzid = tzid.strip().lstrip("/")
    return windows_to_iana(tzid) or tzid


def canonical_duration(value: str) -> str:
    """An RFC 5545 duration in one spelling: weeks as days, the time part as H/M/S with no zero parts."""
    match = DURATION.match(value.strip().upper())
    if match is None:
        return value
    sign, weeks, days, hours, minutes, seconds = match.groups()
    total_days = int(weeks or 0) * 7 + int(days or 0)
    secs = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    time = ""
    if secs:
        h, rest = divmod(secs, 3600)
        m, s = divmod(rest, 60)
        time = "T" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")
    if not total_days and not secs:
        return "PT0S"
    return ("-" if sign == "-" else "") + "P" + (f"{total_days}D" if total_days else "") + time


def duration_parts(value: str) -> tuple[int, int]:
    """An RFC 5545 duration as (nominal days, exact seconds), both signed; ``InvalidItem`` when it is none."""
    match = DURATION.match(value.strip().upper())
    if match is None:
        raise InvalidItem(f"not a duration: {value[:40]!r}")
    sign, weeks, days, hours, minutes, seconds = match.groups()
    nominal = int(weeks or 0) * 7 + int(days or 0)
    exact = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return (-nominal, -exact) if sign == "-" else (nominal, exact)


def whole_days(days: int, seconds: int) -> int:
    """The days a duration covers from a DATE start: RFC 5545 allows only days and weeks there, so a time part
    is rounded up to cover what was written (a 36-hour all-day item spans two days)."""
    total = days * _DAY_SECONDS + seconds
    return -(-total // _DAY_SECONDS)


_ESCAPE = re.compile(r"\\([\\;,nN])")
_UNESCAPED = {"\\": "\\", ";": ";", ",": ",", "n": "\n", "N": "\n"}


def unescape(value: str) -> str:
    """TEXT with its escapes undone, left to right: ``\\\\n`` is a backslash and an ``n``, not a newline."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda match: _UNESCAPED[match.group(1)], value)
