"""Finding a CalDAV/CardDAV service from an e-mail address or a domain in DNS (RFC 6764 sections 3 to 6).

SRV records ``_caldavs._tcp`` / ``_carddavs._tcp`` (TLS only: a domain that offers the service only without TLS
is refused, since the password would travel in clear), their TXT ``path=``, else the host's ``/.well-known/``
URL. A module of its own so that dnspython is imported only when an address, not a URL, is configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.exception
import dns.name
import dns.resolver

from calsync.errors import ConfigError

if TYPE_CHECKING:
    from calsync.connectors.dav.discovery import HomeKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """Where a domain's SRV record puts its TLS CalDAV/CardDAV service, and the context path its TXT record gives
    (``""``: none, so the host's ``/.well-known/`` URL is the start)."""

    host: str
    port: int
    path: str = ""

    def url(self, kind: HomeKind) -> str:
        """The URL discovery starts at (https; the port only when it is not 443)."""
        netloc = self.host if self.port == 443 else f"{self.host}:{self.port}"
        return f"https://{netloc}{self.path or f'/.well-known/{kind.well_known}'}"


def service_url(address: str, kind: HomeKind, resolver: dns.resolver.Resolver | None = None) -> str:
    """The URL where discovery starts for an e-mail address or a bare domain (RFC 6764 sections 3 to 6).

    ``_caldavs._tcp`` (``_carddavs``) first; without it, ``https://<domain>/.well-known/<kind>``, also when DNS
    cannot be asked (the HTTPS request then says what is wrong). Raises ``ConfigError`` when the domain declines
    the service (an SRV target of "."), offers it only without TLS, or publishes a malformed record.
    """
    domain = _domain(address)
    resolver = resolver if resolver is not None else dns.resolver.get_default_resolver()
    try:
        found = lookup_service(resolver, domain, kind)
    except (dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
        logger.warning("DNS lookup for %s failed (%s); trying its well-known URL", domain, exc)
        found = None
    if found is not None:
        return found.url(kind)
    return f"https://{domain}/.well-known/{kind.well_known}"


def lookup_service(resolver: dns.resolver.Resolver, domain: str, kind: HomeKind) -> ServiceRecord | None:
    """The domain's TLS service record with its TXT path, or ``None`` when it publishes neither service.

    Raises ``ConfigError`` for a declined service, a plain-text-only one and malformed or looping records;
    lets dnspython's ``NoNameservers``/``LifetimeTimeout`` through (the caller decides what an unreachable DNS
    means).
    """
    secure = f"_{kind.well_known}s._tcp.{domain}"
    record = _srv(resolver, secure)
    if record is None:
        if _srv(resolver, f"_{kind.well_known}._tcp.{domain}") is not None:
            raise ConfigError(
                f"{domain} offers {kind.well_known} only without TLS (_{kind.well_known}._tcp): calsync does not send "
                f"the password unencrypted; publish _{kind.well_known}s._tcp or give the server's https URL"
            )
        return None
    return ServiceRecord(record[0], record[1], _txt_path(resolver, secure))


def _srv(resolver: dns.resolver.Resolver, name: str) -> tuple[str, int] | None:
    """The (host, port) of ``name``'s SRV record with the lowest priority and then the highest weight (RFC 2782;
    one server is enough here, so the weighted random choice is left out); ``None`` when there is none."""
    answer = _resolve(resolver, name, "SRV")
    if answer is None:
        return None
    records = sorted(answer, key=lambda r: (r.priority, -r.weight))
    best = records[0]
    if best.target == dns.name.root:
        raise ConfigError(f"{name} says the service is not offered (its SRV target is '.')")
    if best.port == 0:
        raise ConfigError(f"{name} has an SRV record with port 0")
    return best.target.to_text(omit_final_dot=True), int(best.port)


def _txt_path(resolver: dns.resolver.Resolver, name: str) -> str:
    """The ``path=`` of ``name``'s TXT records (RFC 6764 section 4), ``""`` when none gives one."""
    answer = _resolve(resolver, name, "TXT")
    for record in answer or ():
        try:
            text = b"".join(record.strings).decode("ascii")
        except UnicodeDecodeError:
            raise ConfigError(f"{name} has a TXT record that is not ASCII") from None
        key, _, value = text.partition("=")
        if key.strip().lower() != "path":
            continue
        path = value.strip()
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise ConfigError(f"{name} has a TXT path that is not an absolute path: {path!r}")
        return path
    return ""


def _resolve(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> dns.resolver.Answer | None:
    """dnspython's answer, ``None`` for no such name or no record of the type; a broken chain (a CNAME loop,
    a malformed reply) is a ``ConfigError`` naming the record."""
    try:
        return resolver.resolve(name, rdtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.resolver.NoNameservers as exc:
        # A server that answered with records no answer can be built from (a CNAME loop, a malformed chain) is
        # a broken zone; no answer at all, or SERVFAIL, is DNS being unreachable.
        errors = exc.kwargs.get("errors") or ()
        broken = [error for _, _, _, error, reply in errors if reply is not None and isinstance(error, Exception)]
        if broken:
            raise ConfigError(f"the DNS records of {name} are broken: {broken[0]}") from exc
        raise
    except dns.resolver.LifetimeTimeout:
        raise
    except dns.exception.DNSException as exc:
        raise ConfigError(f"the DNS records of {name} are broken: {exc}") from exc


def _domain(address: str) -> str:
    """The domain of an e-mail address or a bare domain, checked to be a DNS name."""
    domain = address.strip().rpartition("@")[2].strip().rstrip("/").rstrip(".").lower()
    try:
        dns.name.from_text(domain)
    except dns.exception.DNSException as exc:
        raise ConfigError(f"{address!r} is not an e-mail address or domain: {exc}") from exc
    if "." not in domain or "/" in domain or ":" in domain:
        raise ConfigError(f"{address!r} is not an e-mail address or domain")
    return domain
