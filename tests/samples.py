"""Small, realistic iCalendar texts for tests that need items but not a particular real-world file."""

from __future__ import annotations


def event(
    uid: str,
    title: str = "Visit",
    *,
    day: str = "20261123",
    start: str = "090000",
    end: str = "100000",
    tzid: str = "Europe/Berlin",
    extra: str = "",
    private: bool = False,
) -> str:
    """One timed VEVENT in its own VCALENDAR, CRLF line endings as servers send them."""
    klass = "CLASS:PRIVATE\r\n" if private else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T080000Z\r\nDTSTART;TZID={tzid}:{day}T{start}\r\n"
        f"DTEND;TZID={tzid}:{day}T{end}\r\nSUMMARY:{title}\r\n{klass}{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def task(uid: str, title: str = "Call back", *, due: str = "20261124") -> str:
    """One VTODO due on a date."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VTODO\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T080000Z\r\nDUE;VALUE=DATE:{due}\r\nSUMMARY:{title}\r\n"
        "STATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )


def contact(uid: str, name: str = "Ada Lovelace") -> str:
    """One vCard 3.0."""
    family, _, given = name.partition(" ")[::-1]
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        "EMAIL;TYPE=WORK:ada@example.com\r\nEND:VCARD\r\n"
    )
