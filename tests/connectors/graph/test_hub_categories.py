"""The hub with a Microsoft 365 calendar (the fake Graph service): activity types become Outlook categories in
their colours on a full sync, and the items written carry them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from calsync.connectors.graph.connector import GraphConnector
from calsync.model.item import BusinessExtras
from calsync.services.connections import IntegrationConnectors
from calsync.services.hub_sync import JobKind, sync_integration
from tests.connectors.graph.fake.server import FakeGraph
from tests.services.hubworld import event, make_world


def test_activity_types_become_outlook_categories_in_their_colours(
    tmp_path: Path, fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    world = make_world(tmp_path)
    for tech in ("tech1", "tech2"):
        fake.add_mailbox(f"{tech}@acme.test")
    graph = connect(mailboxes=["tech1@acme.test", "tech2@acme.test"])
    world.set_rules(
        {
            "mapping": {
                "category_template": "ES_{number}_{description}",
                "activity_types": [
                    {"code": "SV", "number": "10", "description": "Service", "colour": "#10c020"},
                    {"code": "IN", "number": "20", "description": "Install"},
                ],
            }
        }
    )
    from dataclasses import replace

    world.push(("A1", "tech1", replace(event("Visit"), extras=BusinessExtras(activity_type="SV"))))
    run = sync_integration(
        world.settings, "acme", kind=JobKind.FULL, full=True, connectors=IntegrationConnectors(graph)
    )
    assert not [o for o in run.outcomes if o.failed], [o.message for o in run.outcomes]
    box = fake.mailboxes["tech1@acme.test"]
    colours = {c["displayName"]: c["color"] for c in box.categories}
    assert colours == {"ES_10_Service": "preset4"}  # green; a type without a colour makes no category
    written = [e.data for e in box.events.values() if e.data.get("subject") == "Visit"]
    assert written and written[0]["categories"] == ["ES_10_Service"]
