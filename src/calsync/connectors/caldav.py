"""CalDAV calendars (events VEVENT and tasks VTODO) behind the Connector port (RFC 4791, RFC 6578).

One class; the WebDAV work is shared with CardDAV in ``calsync.connectors.dav`` (why httpx: see
``dav.transport``). ``url`` is the calendar home (the folder holding the calendars, e.g.
``https://host/remote.php/dav/calendars/alice/``); collection ids are calendar names under it. Using the home
directly keeps a no-change run at one request (a sync-collection REPORT); ``discover()`` finds the home from a
server root, a principal or an e-mail address when the URL is not it.
"""

from __future__ import annotations

from collections.abc import Sequence

from calsync.connectors.dav import xml
from calsync.connectors.dav.collections import Flavor
from calsync.connectors.dav.discovery import CALENDARS
from calsync.connectors.dav.store import DavStore
from calsync.model.canonical import ICALENDAR
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window

CALENDAR = Flavor(
    media_type=ICALENDAR,
    extension=".ics",
    report="calendar",
    data_prop=f"{{{xml.CALDAV}}}calendar-data",
    uid_conflict=f"{{{xml.CALDAV}}}no-uid-conflict",
    queries_window=True,
    components=("VEVENT", "VTODO"),
)
COMPONENTS = ("VEVENT", "VTODO")


class CalDavConnector(DavStore):
    """The calendars of one CalDAV account."""

    flavor = CALENDAR

    default_name = "caldav"

    def discover(self) -> list[CollectionInfo]:
        """The calendars in the home, with display name, colour, components and writability."""
        return self.collections(CALENDARS)

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Refs of events and tasks overlapping ``window`` by calendar-query (RFC 4791 section 7.8), one per
        component; recurring series that started before the window are matched by the server (section 9.9).

        Every item's ref where the server's time-range query costs more than reading everything
        (``quirks.time_range_query``; ``capabilities.filters_window`` is then false, so the engine applies the
        window itself).
        """
        if window is None or not self.quirks.time_range_query:
            return self.list_all(collection)
        url = self.collection_url(collection)
        refs: dict[str, ItemRef] = {}
        for component in COMPONENTS:
            response = self._send("REPORT", url, xml.calendar_query(component, window.start, window.end), depth="1")
            refs.update((ref.href, ref) for ref in self._refs(url, response))
        return list(refs.values())

    def create_calendar(
        self, collection: str, display_name: str = "", color: str = "", components: Sequence[str] = COMPONENTS
    ) -> None:
        """Make a calendar for ``components`` (events and tasks by default; MKCALENDAR, RFC 4791 section 5.3.1);
        an existing one stays as it is."""
        self.make(collection, "MKCALENDAR", xml.mkcalendar(display_name or collection, color, components))
