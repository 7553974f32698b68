"""The SOAP envelope of EWS: namespaces, reading a request, writing a response message or a fault.

Shapes follow the EWS reference: every operation answers ``<m:{Op}Response><m:ResponseMessages>`` with one
``<m:{Op}ResponseMessage ResponseClass="Success|Error">`` per item asked for, and request-level failures
(throttling, impersonation refused) come as a SOAP fault with HTTP 500.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-xml-elements-in-exchange
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": M, "t": T}

Element = etree._Element


def m(name: str) -> str:
    return f"{{{M}}}{name}"


def t(name: str) -> str:
    return f"{{{T}}}{name}"


class EwsFault(Exception):
    """A request-level failure, answered as a SOAP fault with HTTP 500 (``back_off_ms`` for ErrorServerBusy)."""

    def __init__(self, code: str, message: str, back_off_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.back_off_ms = back_off_ms


class ItemError(Exception):
    """One item's failure, answered as that item's response message with ResponseClass="Error"."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@dataclass(slots=True)
class Call:
    """One parsed request: the operation element, the SOAP headers and who asks for which mailbox."""

    operation: Element
    headers: dict[str, Element] = field(default_factory=dict)
    user: str = ""
    impersonated: str = ""

    @property
    def name(self) -> str:
        return etree.QName(self.operation).localname


def parse(body: bytes) -> Call:
    root = etree.fromstring(body)
    header = root.find(f"{{{SOAP}}}Header")
    soap_body = root.find(f"{{{SOAP}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise EwsFault("ErrorSchemaValidation", "The request has no SOAP body.")
    headers = {etree.QName(h).localname: h for h in (header if header is not None else ())}
    call = Call(soap_body[0], headers)
    imp = headers.get("ExchangeImpersonation")
    if imp is not None:
        address = imp.find(f".//{t('PrimarySmtpAddress')}")
        call.impersonated = (address.text or "").strip().lower() if address is not None else ""
    return call


def envelope(response: Element) -> bytes:
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    etree.SubElement(
        header,
        t("ServerVersionInfo"),
        MajorVersion="15",
        MinorVersion="1",
        MajorBuildNumber="2507",
        MinorBuildNumber="6",
        Version="V2017_07_11",
    )
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    body.append(response)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def fault(error: EwsFault) -> bytes:
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP, "e": ERRORS, "t": T})
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    node = etree.SubElement(body, f"{{{SOAP}}}Fault")
    etree.SubElement(node, "faultcode").text = f"a:{error.code}"
    etree.SubElement(node, "faultstring").text = str(error)
    detail = etree.SubElement(node, "detail")
    etree.SubElement(detail, f"{{{ERRORS}}}ResponseCode").text = error.code
    etree.SubElement(detail, f"{{{ERRORS}}}Message").text = str(error)
    if error.back_off_ms is not None:
        xml = etree.SubElement(detail, t("MessageXml"))
        etree.SubElement(xml, t("Value"), Name="BackOffMilliseconds").text = str(error.back_off_ms)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def response(operation: str) -> tuple[Element, Element]:
    """The ``{Op}Response`` element and its ``ResponseMessages`` container."""
    top = etree.Element(m(f"{operation}Response"), nsmap={"m": M, "t": T})
    return top, etree.SubElement(top, m("ResponseMessages"))


def message(container: Element, operation: str, error: ItemError | None = None) -> Element:
    """One response message: success, or the item's error code."""
    node = etree.SubElement(container, m(f"{operation}ResponseMessage"), ResponseClass="Error" if error else "Success")
    if error is not None:
        etree.SubElement(node, m("MessageText")).text = str(error)
        etree.SubElement(node, m("ResponseCode")).text = error.code
        etree.SubElement(node, m("DescriptiveLinkKey")).text = "0"
    else:
        etree.SubElement(node, m("ResponseCode")).text = "NoError"
    return node


def text(node: Element | None, path: str, default: str = "") -> str:
    if node is None:
        return default
    found = node.find(path, NSMAP)
    return (found.text or "").strip() if found is not None and found.text is not None else default
