"""What one EWS connection needs, as a value: where, who, how, and how patient to be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Access(StrEnum):
    """How the service account opens the mapped mailboxes; the administrator picks one per integration."""

    IMPERSONATION = "impersonation"
    DELEGATE = "delegate"


class Logon(StrEnum):
    """How the service account proves who it is."""

    BASIC = "basic"
    NTLM = "ntlm"
    OAUTH2 = "oauth2"


@dataclass(frozen=True, slots=True)
class Patience:
    """How throttling and outages are ridden out: at most ``attempts`` tries and ``max_wait`` seconds of waiting
    per call (a server's larger hint makes the call fail with ``RateLimited``), ``timeout`` seconds per request."""

    attempts: int = 5
    max_wait: float = 60.0
    timeout: float = 60.0
    sleep: Callable[[float], None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class EwsSettings:
    """One service account on one Exchange organisation.

    ``url`` is the explicit ``https://…/EWS/Exchange.asmx``; without it ``autodiscover_email`` (usually the
    service account's address) is looked up, at ``autodiscover_url`` when given (else the standard
    ``https://<domain>/`` and ``https://autodiscover.<domain>/`` endpoints). ``username`` is a UPN
    (``svc-calsync@contoso.com``), never ``DOMAIN\\user``. ``version`` (``15.1.2507.6`` or ``15.1``) skips
    version probing. ``timezone`` is the IANA zone all-day items are written in.
    """

    username: str
    password: str = field(default="", repr=False)
    url: str = ""
    autodiscover_email: str = ""
    autodiscover_url: str = ""
    logon: Logon = Logon.BASIC
    access: Access = Access.IMPERSONATION
    version: str = ""
    verify_tls: bool = True
    ca_bundle: Path | None = None
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    tenant_id: str = ""
    timezone: str = "UTC"
    patience: Patience = field(default_factory=Patience)
