"""The journal of an integration: every change calsync made, newest first, with "Restore" per entry.

An entry shows the item's content before and after the change (iCalendar or vCard text, escaped like every
value, in a collapsed ``<details>``): items carry no credentials, so nothing secret can show. Restoring puts the
item back in the business store as it was before the change (as written, for a creation); the next sync writes
it to the calendar again.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from calsync.errors import NotFound
from calsync.services.hub import LAST_ENTRY, open_hub
from calsync.web.admin.lookup import base_path, integration_view, missing
from calsync.web.admin.render import error_page, page, see_other
from calsync.web.admin.session import PostedForm, SignedIn
from calsync.web.context import context

router = APIRouter(prefix="/admin/integrations/{name}/journal")

LIMIT = 100
"""How many entries a page shows; "Older entries" reads the next ones."""


@router.get("")
def journal(request: Request, name: str, session: SignedIn) -> Response:
    """A page of the integration's entries, or of one item's (``?item=<business id>``): the newest, or those
    older than an entry (``?older_than=<entry>``, what "Older entries" links to)."""
    view = integration_view(request, name)
    if view is None:
        return missing(request, name, session)
    item = request.query_params.get("item", "").strip()
    older_than = _entry_number(request.query_params.get("older_than", "")) or None
    with open_hub(context(request).settings) as hub:
        page_read = hub.journal_page(name, item or None, LIMIT, older_than)
    values = {
        "title": f"Journal of {name}" + (f": entries older than #{older_than}" if older_than else ""),
        "view": view,
        "entries": page_read.entries,
        "item": item,
        "limit": LIMIT,
        "older_than": older_than,
        "older": page_read.older,
        "restored": _entry_number(request.query_params.get("restored", "")),
        "here": "journal",
    }
    return page(request, "journal.html", values, session=session)


@router.post("/{entry_id}/restore")
def restore(request: Request, name: str, entry_id: int, form: PostedForm) -> Response:
    """Put the entry's item back as it was before the change, then show the item's journal."""
    view = integration_view(request, name)
    if view is None:
        return missing(request, name, form.session)
    try:
        with open_hub(context(request).settings) as hub:
            restored = hub.restore(name, entry_id)
    except NotFound as exc:
        return error_page(request, 404, "Cannot restore", str(exc), form.session)
    item = quote(restored.business_id, safe="")
    return see_other(f"{base_path(name)}/journal?item={item}&restored={entry_id}")


def _entry_number(text: str) -> int | None:
    """An entry a URL names (the one a redirect says was restored, the page's ``older_than``): a number, or none (a
    page never shows text from its URL)."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(LAST_ENTRY)):
        return None
    number = int(text)
    return number if number <= LAST_ENTRY else None
