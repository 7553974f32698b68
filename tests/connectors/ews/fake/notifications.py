"""Pull notifications: Subscribe (PullSubscriptionRequest), GetEvents and Unsubscribe over the store's change log.

A watermark is a position in the change log; GetEvents answers the changes of the subscribed folder after it
(CreatedEvent, ModifiedEvent, DeletedEvent, each with its own watermark), at most ``PAGE`` at a time with
MoreEvents, or one StatusEvent when nothing happened.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscribe-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getevents-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/unsubscribe-operation
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from lxml import etree

from tests.connectors.ews.fake.items import Ops
from tests.connectors.ews.fake.soap import Call, Element, ItemError, m, message, response, t, text

PAGE = 50
_EVENTS = {"Create": "CreatedEvent", "Update": "ModifiedEvent", "Delete": "DeletedEvent"}


@dataclass(slots=True)
class Subscriptions:
    """Live pull subscriptions: id -> (mailbox, folder name)."""

    live: dict[str, tuple[str, str]] = field(default_factory=dict)


def _mark(position: int) -> str:
    return base64.b64encode(f"wm|{position}".encode()).decode()


def _position(watermark: str) -> int:
    try:
        magic, position = base64.b64decode(watermark.encode(), validate=True).decode().split("|")
        if magic != "wm":
            raise ValueError(watermark)
        return int(position)
    except ValueError as exc:
        raise ItemError("ErrorInvalidWatermark", "The watermark is invalid.") from exc


def subscribe(ops: Ops, subs: Subscriptions, call: Call) -> Element:
    top, container = response("Subscribe")
    request = call.operation.find(m("PullSubscriptionRequest"))
    try:
        folder_ids = request.find(t("FolderIds")) if request is not None else None
        if folder_ids is None or not len(folder_ids):
            raise ItemError("ErrorInvalidSubscriptionRequest", "Only pull subscriptions on folders are served.")
        mailbox, name = ops.folder(call, folder_ids[0])
        given = text(request, "t:Watermark")
        start = _position(given) if given else ops.store.now
    except ItemError as error:
        message(container, "Subscribe", error)
        return top
    ident = "SUB" + secrets.token_hex(12)
    subs.live[ident] = (mailbox, name)
    reply = message(container, "Subscribe")
    etree.SubElement(reply, m("SubscriptionId")).text = ident
    etree.SubElement(reply, m("Watermark")).text = _mark(start)
    return top


def get_events(ops: Ops, subs: Subscriptions, call: Call) -> Element:
    top, container = response("GetEvents")
    ident = text(call.operation, "m:SubscriptionId")
    try:
        if ident not in subs.live:
            raise ItemError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        mailbox, name = subs.live[ident]
        ops.allowed(call, mailbox)
        since = _position(text(call.operation, "m:Watermark"))
    except ItemError as error:
        message(container, "GetEvents", error)
        return top
    changes = ops.store.events_since(mailbox, name, since)
    reply = message(container, "GetEvents")
    note = etree.SubElement(reply, m("Notification"))
    etree.SubElement(note, t("SubscriptionId")).text = ident
    etree.SubElement(note, t("PreviousWatermark")).text = _mark(since)
    etree.SubElement(note, t("MoreEvents")).text = "true" if len(changes) > PAGE else "false"
    if not changes:
        etree.SubElement(etree.SubElement(note, t("StatusEvent")), t("Watermark")).text = _mark(ops.store.now)
    for position, kind, stored in changes[:PAGE]:
        event = etree.SubElement(note, t(_EVENTS[kind]))
        etree.SubElement(event, t("Watermark")).text = _mark(position)
        etree.SubElement(event, t("TimeStamp")).text = "2026-11-21T09:00:00Z"
        etree.SubElement(event, t("ItemId"), Id=stored.id, ChangeKey=stored.change_key)
        folder_id = ops.store.mailboxes[mailbox].folder_ids[name]
        etree.SubElement(event, t("ParentFolderId"), Id=folder_id, ChangeKey="AQAAAA==")
    return top


def unsubscribe(ops: Ops, subs: Subscriptions, call: Call) -> Element:
    top, container = response("Unsubscribe")
    ident = text(call.operation, "m:SubscriptionId")
    if subs.live.pop(ident, None) is None:
        message(container, "Unsubscribe", ItemError("ErrorSubscriptionNotFound", "The subscription was not found."))
    else:
        message(container, "Unsubscribe")
    return top
