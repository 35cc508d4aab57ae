"""Partner directory: who is behind an EAN, who is behind a bearer token, and where a message may go.

Tokens are only ever held as sha256 hex digests; a presented token is hashed and compared to every
known digest with `hmac.compare_digest`, so the lookup time does not depend on how much of a digest
matched. A digest that matched once is remembered (a dict keyed by the digest), so later requests with
that token skip the loop.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from edigate.config import GatewaySettings, Partner

_SEEN_MAX = 1024  # bounded: only valid tokens enter, and there are only as many as configured

CallerKind = Literal["partner", "client", "admin"]


@dataclass(frozen=True)
class Caller:
    """The authenticated party behind a request."""

    kind: CallerKind
    name: str
    eans: frozenset[str]  # the EANs it may send as and read for; empty for an admin

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


def token_sha256(token: str) -> str:
    """aiohttp hands non-UTF-8 header bytes over as surrogates; hash them as the bytes they were."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class RouteVerdict:
    """Why a message cannot be routed, in MedCom's RefuseCode terms; None fields mean it can."""

    refuse_code: str | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.refuse_code is None


class PartnerDirectory:
    def __init__(self, settings: GatewaySettings) -> None:
        self._partners = {p.ean: p for p in settings.partners}
        entries: list[tuple[str, Caller]] = []
        for p in settings.partners:
            caller = Caller("partner", p.name, frozenset({p.ean}))
            entries += [(t, caller) for t in p.tokens_sha256]
        for c in settings.clients:
            caller = Caller("client", c.name, frozenset(c.eans))
            entries += [(t, caller) for t in c.tokens_sha256]
        for a in settings.admins:
            caller = Caller("admin", a.name, frozenset())
            entries += [(t, caller) for t in a.tokens_sha256]
        self._tokens = tuple(entries)
        # digests already matched once -> their caller, so a busy sender's token is compared against
        # every known digest only on first sight; keyed by the digest, never by the token itself
        self._seen: dict[bytes, Caller] = {}

    @property
    def partners(self) -> tuple[Partner, ...]:
        return tuple(self._partners.values())

    def partner(self, ean: str | None) -> Partner | None:
        return self._partners.get(ean) if ean else None

    def authenticate(self, token: str | None) -> Caller | None:
        """The caller for a bearer token, or None. Compares against every digest (no early exit)."""
        if not token:
            return None
        digest = token_sha256(token).encode("ascii")
        cached = self._seen.get(digest)
        if cached is not None:
            return cached
        found: Caller | None = None
        for known, caller in self._tokens:
            if hmac.compare_digest(digest, known.encode("ascii")):
                found = caller
        if found is not None:
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen[digest] = found
        return found

    def route(
        self,
        receiver_ean: str | None,
        message_type: str | None,
        version_code: str | None,
        *,
        is_receipt: bool = False,
    ) -> RouteVerdict:
        """May a message of this type/version go to this receiver? Receipts always may (they answer
        the receiver's own messages)."""
        partner = self.partner(receiver_ean)
        if partner is None:
            return RouteVerdict("ukendt_lokationsnummer", f"receiver EAN {receiver_ean} is not a known partner")
        if not is_receipt and partner.accepts is not None and not ({message_type, version_code} & set(partner.accepts)):
            return RouteVerdict(
                "problem_med_version",
                f"receiver {receiver_ean} does not accept {message_type} {version_code}",
            )
        return RouteVerdict(None, None)
