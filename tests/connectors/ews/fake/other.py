"""Availability, out-of-office settings and SOAP autodiscover, plus injecting a response code into an answer.

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseravailability-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseroofsettings-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getusersettings-operation-soap
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from lxml import etree

from tests.connectors.ews.fake import series
from tests.connectors.ews.fake.soap import SOAP, Call, Element, ItemError, M, m, message, response, t, text

if TYPE_CHECKING:
    from tests.connectors.ews.fake.server import FakeEws


def fail_messages(response: Element, code: str) -> None:
    """Turn every response message of ``response`` into an error with ``code``."""
    for node in response.iter():
        if isinstance(node.tag, str) and node.tag.startswith(f"{{{M}}}") and node.tag.endswith("ResponseMessage"):
            for child in list(node):
                node.remove(child)
            node.set("ResponseClass", "Error")
            etree.SubElement(node, m("MessageText")).text = f"Injected {code}."
            etree.SubElement(node, m("ResponseCode")).text = code
            etree.SubElement(node, m("DescriptiveLinkKey")).text = "0"


def convert_id(fake: FakeEws, call: Call) -> Element:
    """ConvertId: every id calsync's library sends here is a probe for the version header; none is an id."""
    top, container = response("ConvertId")
    for _ in call.operation.iterfind(f"{m('SourceIds')}/{t('AlternateId')}"):
        message(container, "ConvertId", ItemError("ErrorInvalidIdMalformed", "Id is malformed."))
    return top


def time_zones(fake: FakeEws, call: Call) -> Element:
    """GetServerTimeZones: the UTC definition (calsync asks for free/busy in UTC only)."""
    top, container = response("GetServerTimeZones")
    reply = message(container, "GetServerTimeZones")
    definitions = etree.SubElement(reply, m("TimeZoneDefinitions"))
    zone = etree.SubElement(definitions, t("TimeZoneDefinition"), Id="UTC", Name="(UTC) Coordinated Universal Time")
    rule = "trule:Microsoft/Registry/UTC/2006-Standard"
    periods = etree.SubElement(zone, t("Periods"))
    etree.SubElement(periods, t("Period"), Bias="PT0M", Name="Standard", Id=rule)
    groups = etree.SubElement(zone, t("TransitionsGroups"))
    group = etree.SubElement(groups, t("TransitionsGroup"), Id="0")
    etree.SubElement(etree.SubElement(group, t("Transition")), t("To"), Kind="Period").text = rule
    transitions = etree.SubElement(zone, t("Transitions"))
    etree.SubElement(etree.SubElement(transitions, t("Transition")), t("To"), Kind="Group").text = "0"
    return top


def availability(fake: FakeEws, call: Call) -> Element:
    """GetUserAvailability, detailed view, in UTC: the busy items of each mailbox's calendar and its extra blocks."""
    op = call.operation
    lo = series.when(text(op, "t:FreeBusyViewOptions/t:TimeWindow/t:StartTime"))
    hi = series.when(text(op, "t:FreeBusyViewOptions/t:TimeWindow/t:EndTime"))
    top = etree.Element(m("GetUserAvailabilityResponse"), nsmap={"m": M, "t": t("")[1:-1]})
    array = etree.SubElement(top, m("FreeBusyResponseArray"))
    for data in op.iterfind(f"{m('MailboxDataArray')}/{t('MailboxData')}"):
        address = text(data, "t:Email/t:Address").lower()
        one = etree.SubElement(array, m("FreeBusyResponse"))
        if address not in fake.store.mailboxes:
            message(one, "", ItemError("ErrorMailRecipientNotFound", "The recipient was not found."))
            continue
        message(one, "")
        view = etree.SubElement(one, m("FreeBusyView"))
        etree.SubElement(view, t("FreeBusyViewType")).text = "Detailed"
        events = etree.SubElement(view, t("CalendarEventArray"))
        for start, end, status in _busy(fake, address, lo, hi):
            event = etree.SubElement(events, t("CalendarEvent"))
            etree.SubElement(event, t("StartTime")).text = start.strftime("%Y-%m-%dT%H:%M:%S")
            etree.SubElement(event, t("EndTime")).text = end.strftime("%Y-%m-%dT%H:%M:%S")
            etree.SubElement(event, t("BusyType")).text = status
    return top


def _busy(fake: FakeEws, address: str, lo: object, hi: object) -> list[tuple]:  # type: ignore[type-arg]
    from datetime import datetime

    assert isinstance(lo, datetime) and isinstance(hi, datetime)
    found = []
    for stored in fake.store.live(address, "calendar"):
        status = stored.value("LegacyFreeBusyStatus") or "Busy"
        if series.is_series(stored):
            originals = {series.stamp(s) for s in series.starts(stored, hi + timedelta(days=1))}
            spans = [series.span(stored, o) for o in sorted((originals | set(stored.modified)) - stored.removed)]
        else:
            spans = [(series.when(stored.value("Start")), series.when(stored.value("End")))]
        found += [(s, e, status) for s, e in spans if s < hi and e > lo and status != "Free"]
    for start, end, status in fake.store.mailboxes[address].busy:
        s, e = series.when(start), series.when(end)
        if s < hi and e > lo:
            found.append((s, e, status))
    return sorted(found)


def oof(fake: FakeEws, call: Call) -> Element:
    """GetUserOofSettings: the mailbox's stored setting (Disabled when never set)."""
    address = text(call.operation, "t:Mailbox/t:Address").lower()
    top = etree.Element(m("GetUserOofSettingsResponse"), nsmap={"m": M, "t": t("")[1:-1]})
    try:
        if address not in fake.store.mailboxes:
            raise ItemError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        fake._allowed(call, address)
    except ItemError as error:
        message(top, "", error)
        return top
    message(top, "")
    setting = fake.store.mailboxes[address].oof
    node = etree.SubElement(top, t("OofSettings"))
    etree.SubElement(node, t("OofState")).text = setting.get("state", "Disabled")
    etree.SubElement(node, t("ExternalAudience")).text = setting.get("audience", "All")
    duration = etree.SubElement(node, t("Duration"))
    etree.SubElement(duration, t("StartTime")).text = setting.get("start", "2026-11-01T00:00:00Z")
    etree.SubElement(duration, t("EndTime")).text = setting.get("end", "2026-11-02T00:00:00Z")
    etree.SubElement(etree.SubElement(node, t("InternalReply")), t("Message")).text = setting.get("internal", "")
    etree.SubElement(etree.SubElement(node, t("ExternalReply")), t("Message")).text = setting.get("external", "")
    etree.SubElement(top, m("AllowExternalOof")).text = "All"
    return top


ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSA = "http://www.w3.org/2005/08/addressing"


def autodiscover(fake: FakeEws, call: Call) -> bytes:
    """GetUserSettings: the EWS URL and schemas for a known address, InvalidUser for others."""
    address = (call.operation.findtext(f".//{{{ANS}}}Mailbox") or "").strip().lower()
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP, "a": WSA, "i": XSI})
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    action = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
    etree.SubElement(header, f"{{{WSA}}}Action").text = action
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    top = etree.SubElement(body, f"{{{ANS}}}GetUserSettingsResponseMessage", nsmap={None: ANS})
    answer = etree.SubElement(top, f"{{{ANS}}}Response")
    etree.SubElement(answer, f"{{{ANS}}}ErrorCode").text = "NoError"
    etree.SubElement(answer, f"{{{ANS}}}ErrorMessage").text = ""
    user = etree.SubElement(etree.SubElement(answer, f"{{{ANS}}}UserResponses"), f"{{{ANS}}}UserResponse")
    known = address in fake.store.mailboxes
    etree.SubElement(user, f"{{{ANS}}}ErrorCode").text = "NoError" if known else "InvalidUser"
    etree.SubElement(user, f"{{{ANS}}}ErrorMessage").text = "No error." if known else f"Invalid user: '{address}'"
    if known:
        settings = etree.SubElement(user, f"{{{ANS}}}UserSettings")
        for name, value in (
            ("ExternalEwsUrl", fake.ews_url),
            (
                "EwsSupportedSchemas",
                "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, "
                "Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2016",
            ),
            ("AutoDiscoverSMTPAddress", address),
        ):
            setting = etree.SubElement(settings, f"{{{ANS}}}UserSetting", {f"{{{XSI}}}type": "StringSetting"})
            etree.SubElement(setting, f"{{{ANS}}}Name").text = name
            etree.SubElement(setting, f"{{{ANS}}}Value").text = value
    fake.autodiscovered.append(address)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
