"""Write-ahead intents: recording a write before it is made, and settling it on the next run.

Why: a crash between a remote write and the commit of its link would otherwise leave the two sides holding the
same content with no link between them. A rerun then sees "new on both sides": harmless as long as nothing
else happens, but if the user deletes the item on the source before the rerun, the copy would come back as new
(a resurrection), and an edit made on the copy would look like a conflict. With the intent committed before the
write, the rerun knows what the target was meant to hold and settles the link from what it actually holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from calsync.model.refs import Side
from calsync.state.store import NO_STATUS, Link, Pending, SideStatus
from calsync.sync.plan import SideView


def intent(ident: str, old: Link | None, target: Side, source: SideStatus, digest: str, kind: str) -> Link:
    """The link to record before writing ``digest`` to ``target``: the confirmed statuses plus the intent.

    It keeps the old link's marks (``Link.parked``, ``Link.away``): a write that is never made (a crash, a
    failure) leaves the link as it was, and a deletion made while the pair was away still reads as one.
    """
    if old is None:
        return Link(ident, NO_STATUS, NO_STATUS, Pending(target, source, digest), kind=kind)
    return replace(old, pending=Pending(target, source, digest), kind=kind)


def confirmed(link: Link) -> Link | None:
    """``link`` without its intent; ``None`` when nothing was confirmed yet (the intent was a first create)."""
    if link.pending is not None and link.side(link.pending.target) == NO_STATUS:
        return None
    return replace(link, pending=None)


@dataclass(slots=True)
class Settled:
    """Links with every intent settled, and what to record about them."""

    links: dict[str, Link]
    record: list[Link] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    again: dict[str, Side] = field(default_factory=dict)
    """First creates to make again, by the side they target: see ``settle``."""


def settle(
    links: Mapping[str, Link], views: Mapping[Side, SideView], recreate: frozenset[Side] = frozenset()
) -> Settled:
    """Settle each intent from what its target holds now.

    The target holds the intended digest: the write happened, the link is as it would have been committed (in
    sync: no longer marked away, ``Link.away``).
    Otherwise (it holds the old content, something else, or nothing): the write is taken as not made and the
    last confirmed link stands, so the plan decides again; a change made meanwhile then meets the other side's
    change as a conflict, resolved by policy and recorded, never dropped silently.

    One exception, on the ``recreate`` sides (their connectors' creates find any item of their identity: see
    ``Capabilities.creates_by_identity``): a first create whose target holds the item in another form while the
    source still holds what was copied. The target may have stored it in its own form (the business side adds a
    default activity type on import), so the create is made ``again`` instead of being planned as "created on
    both sides": the target's copy is left out of the plan, and the create returns it when it is what this
    content makes there, or meets it (``AlreadyExists``, decided again as new on both sides) when it is not.
    """
    settled = Settled(dict(links))
    for ident, link in links.items():
        pending = link.pending
        if pending is None:
            continue
        seen = views[pending.target].seen.get(ident)
        if seen is not None and seen.digest == pending.digest:
            target = SideStatus(seen.ref.href, seen.ref.version, pending.digest)
            a, b = (pending.source, target) if pending.target is Side.B else (target, pending.source)
            settled.links[ident] = Link(ident, a, b, kind=link.kind)
            settled.record.append(settled.links[ident])
            continue
        old = confirmed(link)
        if old is None:
            del settled.links[ident]
            settled.drop.append(ident)
            source = views[pending.target.other].seen.get(ident)
            if (
                pending.target in recreate
                and seen is not None
                and source is not None
                and source.digest == pending.source.digest
            ):
                settled.again[ident] = pending.target
        else:
            settled.links[ident] = old
            settled.record.append(old)
    return settled


def hrefs_of(link: Link, side: Side) -> list[str]:
    """Every href ``link`` knows on ``side``: the confirmed one and, for the source of an intent, its own."""
    hrefs = [link.side(side).href]
    if link.pending is not None and link.pending.target is not side:
        hrefs.append(link.pending.source.href)
    return [h for h in dict.fromkeys(hrefs) if h]
