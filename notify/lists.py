"""Distribution lists and the choice of recipients for a notice.

The lists are built from the partner directory: one for the hospitals, one for the municipalities (each
organisation's functional mailbox) and one per health cluster (sundhedsklynge). The affected area picks
them: a municipality's EOJ outage goes to the hospitals and that municipality; a regional component
(Cosmic, Cloverleaf; reported by Regional IT) goes to all municipalities unless the affected organisations
narrow it. Confirmed subscriptions that match are added. A list address carries no unsubscribe link; a
subscription address carries a link that removes only that subscription.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from notify.model import Incident, Organisation, Recipient, Subscription

HOSPITAL_KINDS = frozenset({"hospital"})
MUNICIPALITY_KINDS = frozenset({"municipality"})


@dataclass(frozen=True)
class DistributionList:
    key: str  # "sygehuse" | "kommuner" | "klynge:<name>"
    title: str
    members: tuple[Organisation, ...]


def distribution_lists(organisations: Iterable[Organisation]) -> list[DistributionList]:
    orgs = list(organisations)
    lists = [
        DistributionList("sygehuse", "Sygehusene", tuple(o for o in orgs if o.kind in HOSPITAL_KINDS)),
        DistributionList("kommuner", "Kommunerne", tuple(o for o in orgs if o.kind in MUNICIPALITY_KINDS)),
    ]
    for cluster in sorted({c for o in orgs for c in o.clusters}):
        members = tuple(o for o in orgs if cluster in o.clusters)
        lists.append(DistributionList(f"klynge:{cluster}", f"Sundhedsklynge {cluster}", members))
    return lists


@dataclass(frozen=True)
class Selection:
    recipients: tuple[Recipient, ...]
    area: tuple[str, ...]  # EANs of the organisations the notice concerns
    without_mailbox: tuple[str, ...]  # organisations that should get it but have no functional mailbox


def _area(incident: Incident, by_ean: Mapping[str, Organisation]) -> list[tuple[Organisation, str]]:
    """(organisation, why) pairs whose functional mailbox gets the notice."""
    chosen: list[tuple[Organisation, str]] = []
    affected = [by_ean[e] for e in incident.affected_organisations if e in by_ean]
    if incident.role == "eoj":
        chosen += [(o, "liste:sygehuse") for o in by_ean.values() if o.kind in HOSPITAL_KINDS]
        reporter = by_ean.get(incident.reporting_organisation)
        if reporter is not None:
            chosen.append((reporter, f"organisation:{reporter.ean}"))
        chosen += [(o, f"berørt:{o.ean}") for o in affected]
    elif affected:
        chosen += [(o, f"berørt:{o.ean}") for o in affected]
    else:
        chosen += [(o, "liste:kommuner") for o in by_ean.values() if o.kind in MUNICIPALITY_KINDS]
    return chosen


def subscription_matches(
    sub: Subscription, area_orgs: Sequence[Organisation], affected_messages: Iterable[str]
) -> bool:
    """A confirmed subscription matches when each criterion it sets matches (an empty one matches all)."""
    if sub.state != "confirmed":
        return False
    if sub.organisations and not set(sub.organisations) & {o.ean for o in area_orgs}:
        return False
    if sub.clusters:
        clusters = {c for o in area_orgs if o.kind not in HOSPITAL_KINDS for c in o.clusters}
        if not set(sub.clusters) & clusters:
            return False
    return not (sub.message_types and not set(sub.message_types) & set(affected_messages))


def choose_recipients(
    incident: Incident, organisations: Sequence[Organisation], subscriptions: Sequence[Subscription]
) -> Selection:
    """The recipients of a first (or combined) notice: list mailboxes first, then matching subscriptions.
    Each address appears once; a list address wins over a subscription (so it never gets an unsubscribe
    link)."""
    by_ean = {o.ean: o for o in organisations}
    chosen = _area(incident, by_ean)
    recipients: dict[str, Recipient] = {}
    missing: list[str] = []
    for org, why in chosen:
        if not org.mailbox:
            missing.append(org.ean)
            continue
        recipients.setdefault(org.mailbox.lower(), Recipient(org.mailbox, why))
    area_orgs = list({o.ean: o for o, _ in chosen}.values())
    reporter = by_ean.get(incident.reporting_organisation)
    if reporter is not None and reporter not in area_orgs:
        area_orgs.append(reporter)
    for sub in subscriptions:
        if subscription_matches(sub, area_orgs, incident.affected_messages):
            recipients.setdefault(sub.email.lower(), Recipient(sub.email, f"abonnement:{sub.id}", sub.id))
    return Selection(tuple(recipients.values()), tuple(o.ean for o in area_orgs), tuple(dict.fromkeys(missing)))


def merge_recipients(*groups: Iterable[Recipient]) -> tuple[Recipient, ...]:
    """Union by address (case-insensitive), the first occurrence wins."""
    out: dict[str, Recipient] = {}
    for group in groups:
        for r in group:
            out.setdefault(r.address.lower(), r)
    return tuple(out.values())
