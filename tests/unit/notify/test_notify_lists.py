"""Recipient choice: the affected area picks the distribution lists; subscriptions add to them."""

from __future__ import annotations

from notify.lists import choose_recipients, distribution_lists, merge_recipients
from notify.model import Recipient
from tests.unit.notify.test_notify_world import (
    ASSENS,
    KOLDING,
    NOMAIL,
    ODENSE,
    ORGS,
    OUH,
    REGION,
    SLB,
    VEJEN,
    incident,
    subscription,
)


def addresses(selection) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.address for r in selection.recipients}


def test_municipal_eoj_outage_goes_to_hospitals_and_that_municipality() -> None:
    sel = choose_recipients(incident(), ORGS, [])
    assert addresses(sel) == {OUH.mailbox, SLB.mailbox, ODENSE.mailbox}
    assert {r.source for r in sel.recipients} == {"liste:sygehuse", f"organisation:{ODENSE.ean}"}


def test_regional_component_outage_goes_to_all_municipalities_with_a_mailbox() -> None:
    sel = choose_recipients(incident(role="regional-it", reporting_organisation=REGION.ean), ORGS, [])
    assert addresses(sel) == {ODENSE.mailbox, ASSENS.mailbox, KOLDING.mailbox, VEJEN.mailbox}
    assert sel.without_mailbox == (NOMAIL.ean,)  # reported, not silently dropped


def test_affected_organisations_narrow_a_regional_outage() -> None:
    inc = incident(role="regional-it", reporting_organisation=REGION.ean, affected_organisations=(ASSENS.ean,))
    assert addresses(choose_recipients(inc, ORGS, [])) == {ASSENS.mailbox}


def test_subscriptions_match_on_every_criterion_they_set() -> None:
    subs = [
        subscription(1, "fyn@x.example", clusters=("Fyn",)),
        subscription(2, "lb@x.example", clusters=("Lillebælt",)),
        subscription(3, "xdis17@x.example", message_types=("XDIS17",)),
        subscription(4, "xdis20@x.example", message_types=("XDIS20",)),
        subscription(5, "fyn-xdis20@x.example", clusters=("Fyn",), message_types=("XDIS20",)),
        subscription(6, "odense@x.example", organisations=(ODENSE.ean,)),
        subscription(7, "all@x.example"),
        subscription(8, "pending@x.example", state="pending"),
        subscription(9, "removed@x.example", state="removed"),
    ]
    sel = choose_recipients(incident(), ORGS, subs)
    subscribed = {r.address for r in sel.recipients if r.subscription_id is not None}
    assert subscribed == {"fyn@x.example", "xdis17@x.example", "odense@x.example", "all@x.example"}


def test_vejen_is_in_two_clusters() -> None:
    inc = incident(reporting_organisation=VEJEN.ean)
    subs = [subscription(1, "sydvest@x.example", clusters=("Sydvestjylland",))]
    assert "sydvest@x.example" in addresses(choose_recipients(inc, ORGS, subs))
    lists = {d.key: {o.ean for o in d.members} for d in distribution_lists(ORGS)}
    assert VEJEN.ean in lists["klynge:Lillebælt"] and VEJEN.ean in lists["klynge:Sydvestjylland"]
    assert lists["sygehuse"] == {OUH.ean, SLB.ean}


def test_a_list_address_never_becomes_a_subscription_recipient() -> None:
    """A subscription on a functional mailbox must not give that list mail an unsubscribe link."""
    subs = [subscription(1, ODENSE.mailbox.upper())]  # type: ignore[union-attr]
    sel = choose_recipients(incident(), ORGS, subs)
    odense = [r for r in sel.recipients if r.address.lower() == ODENSE.mailbox]
    assert len(odense) == 1 and odense[0].subscription_id is None


def test_merge_keeps_first_occurrence_case_insensitively() -> None:
    a = Recipient("A@x.example", "liste:kommuner")
    b = Recipient("a@x.example", "abonnement:1", 1)
    assert merge_recipients([a], [b]) == (a,)
