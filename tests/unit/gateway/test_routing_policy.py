"""Partner directory (tokens hashed, constant-time lookup, routing verdicts) and the retry policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from edigate.config import DeliverySettings
from edigate.delivery.policy import Circuit, backoff_delay, dead_letter_reason
from edigate.routing import PartnerDirectory, token_sha256
from edigate.settings import parse_settings

H, M = "5790001382445", "5790000198764"


def directory() -> PartnerDirectory:
    return PartnerDirectory(
        parse_settings(
            {
                "partners": [
                    {"ean": H, "name": "H", "kind": "hospital", "tokens_sha256": [token_sha256("h")]},
                    {"ean": M, "name": "M", "kind": "municipality", "accepts": ["XDIS91", "XD2030C"]},
                ],
                "clients": [{"name": "engine", "tokens_sha256": [token_sha256("e")], "eans": [H, M]}],
                "admins": [{"name": "root", "tokens_sha256": [token_sha256("a")]}],
            }
        )
    )


def test_tokens_resolve_to_callers() -> None:
    d = directory()
    assert d.authenticate("h").eans == {H}  # type: ignore[union-attr]
    engine = d.authenticate("e")
    assert engine is not None and engine.kind == "client" and engine.eans == {H, M}
    admin = d.authenticate("a")
    assert admin is not None and admin.is_admin and admin.eans == frozenset()
    assert d.authenticate("nope") is None and d.authenticate("") is None and d.authenticate(None) is None


def test_routing_verdicts() -> None:
    d = directory()
    assert d.route(M, "XDIS91", "XD9134L").ok
    assert d.route(M, "XDIS20", "XD2030C").ok  # by VersionCode
    v = d.route(M, "GGOP", "GGOP100")
    assert v.refuse_code == "problem_med_version"
    assert d.route(M, "XCTL03", "XC0330Q", is_receipt=True).ok  # receipts always pass
    assert d.route("5790000000005", "XDIS91", None).refuse_code == "ukendt_lokationsnummer"


def test_backoff_grows_with_jitter_and_caps() -> None:
    s = DeliverySettings(backoff_base_seconds=1.0, backoff_max_seconds=60.0)
    rnd = random.Random(1)
    delays = [backoff_delay(n, s, rnd) for n in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.0 and 4 <= delays[3] <= 8
    assert max(delays) <= 60.0 and delays[-1] >= 30.0


def test_dead_letter_after_attempts_or_age() -> None:
    s = DeliverySettings(max_attempts=3, max_age_minutes=60)
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert dead_letter_reason(2, now, now, s) is None
    assert "opgivet efter 3 forsøg" in (dead_letter_reason(3, now, now, s) or "")
    assert "opgivet efter 60 minutter i køen" in (dead_letter_reason(0, now - timedelta(hours=2), now, s) or "")


def test_circuit_opens_and_half_opens() -> None:
    c = Circuit(threshold=2, open_seconds=10)
    assert not c.failure(0.0) and c.state(0.0) == "closed"
    assert c.failure(1.0) and c.state(2.0) == "open" and c.wait(2.0) == 9.0
    assert c.state(11.5) == "half_open" and c.wait(11.5) == 0.0
    c.success()
    assert c.state(12.0) == "closed"
