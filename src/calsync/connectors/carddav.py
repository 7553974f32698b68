"""CardDAV address books (vCard 3.0 and 4.0) behind the Connector port (RFC 6352, RFC 6578).

One class; the WebDAV work is shared with CalDAV in ``calsync.connectors.dav`` (why httpx: see
``dav.transport``). ``url`` is the address book home; collection ids are address book names under it. vCard text
is passed through as it is, whichever version it is, so a vCard 4 stays a vCard 4.
"""

from __future__ import annotations

from calsync.connectors.dav import xml
from calsync.connectors.dav.collections import Flavor
from calsync.connectors.dav.discovery import ADDRESSBOOKS
from calsync.connectors.dav.store import DavStore
from calsync.model.canonical import VCARD
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window

ADDRESSBOOK = Flavor(
    media_type=VCARD,
    extension=".vcf",
    report="address",
    data_prop=f"{{{xml.CARDDAV}}}address-data",
    uid_conflict=f"{{{xml.CARDDAV}}}no-uid-conflict",
)


class CardDavConnector(DavStore):
    """The address books of one CardDAV account."""

    flavor = ADDRESSBOOK

    default_name = "carddav"

    def discover(self) -> list[CollectionInfo]:
        """The address books in the home, with display name, colour and writability."""
        return self.collections(ADDRESSBOOKS)

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Every contact: contacts have no time, so every window holds them all (one Depth 1 PROPFIND)."""
        return self.list_all(collection)

    def create_addressbook(self, collection: str, display_name: str = "", color: str = "") -> None:
        """Make an address book (extended MKCOL, RFC 5689 / RFC 6352 section 6.3.1); an existing one stays."""
        self.make(collection, "MKCOL", xml.mkcol_addressbook(display_name or collection, color))
