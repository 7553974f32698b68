"""``Item`` (kind CONTACT) <-> vCard 3.0 (RFC 2426) and 4.0 (RFC 6350).

vobject unfolds and splits the content lines; the values are decoded here. Why not vobject's own decoding: it
drops data of properties it half-knows (``NICKNAME:Johnny,JQP`` becomes "Johnny", a ``SOURCE`` URL loses
everything after its first comma), and properties the model does not map must survive exactly. So each unknown
line is kept as the logical line read (``Item.unknown``) and written back as it was.

Mapped: UID, FN (also ``Item.title``), N (family and given name), ORG (the organisation, first unit), TITLE,
EMAIL and TEL with their TYPEs (``Typed.kind``, lower-case, comma-separated; a preferred one has "pref"), ADR
(``Address``; post-office box and extended address are folded into ``street``, the LABEL parameter into
``label``), NOTE, CATEGORIES and REV (``Item.last_modified``). A second FN, N, ORG, TITLE or NOTE (another
language, say) is kept as an unknown line. So is a mapped line that says more than the model holds (N's middle
names, prefix and suffix, ORG's units, a group such as Apple's ``item1.``, LANGUAGE, a PREF other than 1): it
is written back as read for as long as it still says what the model holds. Once it no longer does (the name was
edited elsewhere), the model's line is written; a stale N is dropped (a card has one N), while a stale FN, ORG,
TITLE or NOTE is written after the model's line, as a second line of that property, since nothing tells it
from a second line in another language (known limit).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from calsync.errors import InvalidItem
from calsync.model.item import Address, ContactInfo, Item, ItemKind, Typed

__all__ = ["item_to_vcard", "vcard_to_item"]

_SINGLE = ("UID", "FN", "N", "ORG", "TITLE", "NOTE", "REV")
_MULTI = ("EMAIL", "TEL", "ADR", "CATEGORIES")
_SKIPPED = ("BEGIN", "END", "VERSION", "PRODID")
_REV = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}):?(\d{2}):?(\d{2})(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2})?)?$")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


def vcard_to_item(text: str) -> Item:
    """The contact one vCard holds.

    Raises ``InvalidItem`` for text that is not exactly one vCard, a vCard without UID, or a REV that is no
    timestamp.
    """
    try:
        return _read(text)
    except InvalidItem:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:  # vobject's own failures
        raise InvalidItem(f"not readable as a vCard: {' '.join(str(exc).split())[:200]}") from exc


def _read(text: str) -> Item:
    lines = _content_lines(text)
    values: dict[str, list[Any]] = {}
    unknown: list[str] = []
    whole: dict[str, list[str]] = {}
    for raw, line in lines:
        name = line.name.upper()
        if name in _SKIPPED:
            continue
        if name in _MULTI or (name in _SINGLE and name not in values):
            values.setdefault(name, []).append(line)
            if name in _KEPT_WHOLE and _says_more(name, line):
                whole.setdefault(name, []).append(raw)
        else:
            unknown.append(raw)
    unknown[:0] = [raw for name in _KEPT_WHOLE for raw in whole.get(name, [])]
    uid = _text(values, "UID").strip()
    if not uid:
        raise InvalidItem("the vCard has no UID")
    full_name = _text(values, "FN")
    family, given = [*_components(values["N"][0].value), ""][:2] if "N" in values else ("", "")
    contact = ContactInfo(
        full_name=full_name,
        given_name=given,
        family_name=family,
        organization=_components(values["ORG"][0].value)[0] if "ORG" in values else "",
        job_title=_text(values, "TITLE"),
        emails=tuple(Typed(_unescape(line.value), _kind(line)) for line in values.get("EMAIL", [])),
        phones=tuple(Typed(_phone(line), _kind(line)) for line in values.get("TEL", [])),
        addresses=tuple(_address(line) for line in values.get("ADR", [])),
        note=_text(values, "NOTE"),
    )
    return Item(
        uid=uid,
        kind=ItemKind.CONTACT,
        title=full_name,
        categories=tuple(c for line in values.get("CATEGORIES", []) for c in _split(line.value, ",") if c),
        contact=contact,
        last_modified=_rev(values["REV"][0].value) if "REV" in values else None,
        unknown=tuple(unknown),
    )


def item_to_vcard(item: Item, version: Literal["3.0", "4.0"] = "3.0") -> str:
    """The contact as one vCard of ``version``, CRLF line ends, folded at 75 octets.

    FN is the contact's full name (else the item's title); N is always written for 3.0, which requires it.
    """
    if version not in ("3.0", "4.0"):
        raise ValueError(f"vCard version must be 3.0 or 4.0, not {version!r}")
    contact = item.contact or ContactInfo(full_name=item.title)
    v4 = version == "4.0"
    lines = ["BEGIN:VCARD", f"VERSION:{version}", f"UID:{_escape(item.uid)}"]
    kept = list(item.unknown)
    full_name = contact.full_name or item.title
    lines.append(_as_kept(kept, "FN", full_name) or f"FN:{_escape(full_name)}")
    name = (contact.family_name, contact.given_name)
    if contact.family_name or contact.given_name or not v4 or _as_kept(kept, "N", name, take=False):
        lines.append(_as_kept(kept, "N", name) or f"N:{_escape(contact.family_name)};{_escape(contact.given_name)};;;")
    kept = [line for line in kept if _bare_name(line) != "N"]  # a card has one N: a kept one not written is stale
    if contact.organization:
        lines.append(_as_kept(kept, "ORG", contact.organization) or f"ORG:{_escape(contact.organization)}")
    if contact.job_title:
        lines.append(_as_kept(kept, "TITLE", contact.job_title) or f"TITLE:{_escape(contact.job_title)}")
    lines += [_as_kept(kept, "EMAIL", email) or _typed_line("EMAIL", email, v4) for email in contact.emails]
    lines += [_as_kept(kept, "TEL", phone) or _typed_line("TEL", phone, v4) for phone in contact.phones]
    lines += [_as_kept(kept, "ADR", address) or _address_line(address, v4) for address in contact.addresses]
    if contact.note:
        lines.append(_as_kept(kept, "NOTE", contact.note) or f"NOTE:{_escape(contact.note)}")
    kept = [line for line in kept if _bare_name(line) not in _MULTI]  # an e-mail the contact no longer has
    if item.categories:
        lines.append("CATEGORIES:" + ",".join(_escape(c) for c in item.categories))
    if item.last_modified is not None:
        lines.append("REV:" + _rev_text(item.last_modified))
    lines += kept
    lines.append("END:VCARD")
    return _fold(lines)


# -- mapped lines kept whole ---------------------------------------------------------------------------------

_KEPT_WHOLE = ("FN", "N", "ORG", "TITLE", "EMAIL", "TEL", "ADR", "NOTE")
"""Mapped properties whose line is kept whole in ``Item.unknown`` when it says more than the model holds (the
middle names, prefix and suffix of N, the units of ORG, a group such as Apple's ``item1.``, LANGUAGE, a PREF
other than 1 …), in the order the writer puts them; the writer then writes that line in place of its own, as
long as it still says what the model holds."""


def _model_value(name: str, line: Any) -> object:
    """What the model holds of one mapped line."""
    if name == "N":
        family, given = [*_components(line.value), ""][:2]
        return family, given
    if name == "ORG":
        return _components(line.value)[0]
    if name == "EMAIL":
        return Typed(_unescape(line.value), _kind(line))
    if name == "TEL":
        return Typed(_phone(line), _kind(line))
    if name == "ADR":
        return _address(line)
    return _unescape(line.value)


def _says_more(name: str, line: Any) -> bool:
    """Whether a mapped line holds more than the model keeps of it: a group, a parameter other than TYPE (and for
    EMAIL, TEL and ADR a PREF of 1 and LABEL), more than family and given name, more than one ORG unit, or a
    post-office box or extended address (which the model folds into the street)."""
    if line.group:
        return True
    allowed = {"TYPE", "PREF", "LABEL"} if name in _MULTI else set()
    if set(line.params) - allowed or (name not in _MULTI and line.singletonparams):
        return True
    if [str(p) for p in line.params.get("PREF", ["1"])] != ["1"]:
        return True
    if name in ("N", "ORG", "ADR"):
        parts = _components(line.value)
        extra = {"N": parts[2:], "ORG": parts[1:], "ADR": [*parts[:2], *parts[7:]]}[name]
        return any(extra)
    return False


def _bare_name(raw: str) -> str:
    """The property name of a logical line, without its group."""
    return re.split(r"[;:]", raw, maxsplit=1)[0].rpartition(".")[2].strip().upper()


def _as_kept(kept: list[str], name: str, value: object, *, take: bool = True) -> str | None:
    """The line kept whole for ``value`` of property ``name``, taken out of ``kept``; ``None`` when there is none.

    Only the first kept line of a single-valued property can stand for the mapped one (later ones are other
    languages and the like); a line that no longer reads as the model's value (edited elsewhere) stands for
    nothing.
    """
    from vobject.base import ParseError, textLineToContentLine

    for index, raw in enumerate(kept):
        if _bare_name(raw) != name:
            continue
        try:
            matches = _model_value(name, textLineToContentLine(raw)) == value
        except (ParseError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            matches = False
        if matches:
            return kept.pop(index) if take else raw
        if name not in _MULTI:
            return None
    return None


# -- reading -------------------------------------------------------------------------------------------------


def _content_lines(text: str) -> list[tuple[str, Any]]:
    """The logical lines of the one vCard in ``text`` with vobject's parse of each (name, params, raw
    value)."""
    from vobject.base import ParseError, getLogicalLines, textLineToContentLine

    try:
        parsed = [(raw, textLineToContentLine(raw, n)) for raw, n in getLogicalLines(io.StringIO(text))]
    except ParseError as exc:
        raise InvalidItem(f"not readable as a vCard: {' '.join(str(exc).split())[:200]}") from exc
    parsed = [(raw, line) for raw, line in parsed if raw.strip()]
    names = [(line.name.upper(), str(line.value).strip().upper()) for _, line in parsed]
    if not names or names[0] != ("BEGIN", "VCARD") or names[-1] != ("END", "VCARD"):
        raise InvalidItem("the text is not one vCard (BEGIN:VCARD … END:VCARD)")
    if sum(1 for name in names if name[0] == "BEGIN") > 1:
        raise InvalidItem("the text holds more than one vCard, or a vCard nested in another")
    return parsed[1:-1]


def _unescape(value: str) -> str:
    """TEXT unescaping (RFC 6350 3.4): ``\\n`` is a newline, any other escaped character stands for itself."""
    return _UNESCAPE.sub(lambda match: "\n" if match.group(1) in "nN" else match.group(1), value)


def _split(value: str, separator: str) -> list[str]:
    """Split at separators that are not escaped, then unescape each part."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current) + ("\\" if escaped else ""))
    return [_unescape(part) for part in parts]


def _components(value: str) -> list[str]:
    """The components of a structured value (N, ORG, ADR)."""
    return _split(value, ";")


def _text(values: dict[str, list[Any]], name: str) -> str:
    return _unescape(values[name][0].value) if name in values else ""


def _kind(line: Any) -> str:
    """TYPE values (and 3.0's bare ``EMAIL;WORK`` form), lower-case, without the redundant "internet";
    a PREF parameter (4.0) reads as the type "pref" (3.0's spelling)."""
    types = [t.lower() for value in line.params.get("TYPE", []) for t in value.split(",")]
    types += [t.lower() for t in line.singletonparams]
    if "PREF" in line.params and "pref" not in types:
        types.append("pref")
    return ",".join(t for t in dict.fromkeys(types) if t and t != "internet")


def _phone(line: Any) -> str:
    """A phone number; 4.0's URI form ``tel:+1-555`` is read as the number."""
    value = _unescape(line.value).strip()
    return value[4:] if value.lower().startswith("tel:") else value


def _address(line: Any) -> Address:
    parts = (_components(line.value) + [""] * 7)[:7]
    pobox, extended, street, city, region, postal_code, country = parts
    labels = line.params.get("LABEL", [])
    return Address(
        street="\n".join(p for p in (pobox, extended, street) if p),
        city=city,
        region=region,
        postal_code=postal_code,
        country=country,
        label=_param_text(labels[0]) if labels else "",
        kind=_kind(line),
    )


def _param_text(value: str) -> str:
    """A parameter value: RFC 6868 caret escapes and RFC 6350's ``\\n`` both mean a newline."""
    return re.sub(r"\^(.)", lambda m: {"n": "\n", "'": '"', "^": "^"}.get(m.group(1), m.group(0)), value).replace(
        "\\n", "\n"
    )


def _rev(value: str) -> datetime:
    """REV as an aware datetime (basic or extended ISO 8601, or a date); ``InvalidItem`` otherwise."""
    match = _REV.match(value.strip())
    if match is None:
        raise InvalidItem(f"the vCard's REV {value!r} is not a timestamp")
    year, month, day, hour, minute, second, zone = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    if zone and zone != "Z":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
        return (moment - offset if zone[0] == "+" else moment + offset).replace(tzinfo=UTC)
    return moment.replace(tzinfo=UTC)


# -- writing -------------------------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _param(value: str) -> str:
    """A parameter value: newlines as ``\\n`` (RFC 6350), quotes and carets as RFC 6868 says, quoted when
    needed."""
    text = value.replace("^", "^^").replace('"', "^'").replace("\n", "\\n")
    return f'"{text}"' if re.search(r"[,;:\\ ]", text) else text


def _types(kind: str, v4: bool) -> str:
    """TYPE (and PREF) parameters for a ``Typed.kind``: lower-case in 4.0, upper-case in 3.0."""
    types = [t for t in kind.split(",") if t]
    pref = v4 and "pref" in types
    if pref:
        types.remove("pref")
    text = ";TYPE=" + ",".join(_param(t.lower() if v4 else t.upper()) for t in types) if types else ""
    return text + (";PREF=1" if pref else "")


def _typed_line(name: str, typed: Typed, v4: bool) -> str:
    return f"{name}{_types(typed.kind, v4)}:{_escape(typed.value)}"


def _address_line(address: Address, v4: bool) -> str:
    label = f";LABEL={_param(address.label)}" if address.label else ""
    parts = ("", "", address.street, address.city, address.region, address.postal_code, address.country)
    return f"ADR{_types(address.kind, v4)}{label}:" + ";".join(_escape(part) for part in parts)


def _rev_text(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y%m%dT%H%M%S") + ("Z" if moment.tzinfo else "")


def _fold(lines: list[str]) -> str:
    """Lines folded at 75 octets with CRLF, as vobject folds."""
    from vobject.base import foldOneLine

    out = io.StringIO()
    for line in lines:
        foldOneLine(out, line)
    return out.getvalue()
