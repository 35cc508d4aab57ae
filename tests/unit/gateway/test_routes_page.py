"""`/routes` from its template (issue 11; issue 12 item 14): every cell says its state in words, a route without
traffic is "ingen trafik", the summary counts exactly the cells shown, organisation names are escaped, and the
page sits in the site's layout (notify's base.html, wired by edigate/app.py), also without `[notify]`."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from edigate.app import build_app
from edigate.config import Partner
from edigate.health import PENDING_COUNT_CAP, HealthMatrix, HealthState, Reason, RouteHealth, RouteSignals
from edigate.settings import parse_settings
from edigate.web.pages import Pages, SiteLayout
from edigate.web.routes_api import page_context
from notify.render import TEMPLATES as NOTIFY_TEMPLATES
from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, HOSPITAL2, MUNICIPALITY, MUNICIPALITY2

AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Copenhagen
PARTNERS = [
    Partner(ean=HOSPITAL, name="Sygehus <Syd> & Co", kind="hospital"),
    Partner(ean=HOSPITAL2, name="Sygehus Nord", kind="hospital"),
    Partner(ean=MUNICIPALITY, name="Kommune A", kind="municipality"),
    Partner(ean=MUNICIPALITY2, name="Kommune B", kind="municipality"),
]


def route(sender: str, receiver: str, state: HealthState, *reasons: str, pending: int = 0) -> RouteHealth:
    why = tuple(Reason("x", state, text) for text in reasons)
    return RouteHealth(sender, receiver, state, AT, why, RouteSignals(sender, receiver, pending_count=pending), {})


#: Syd → A ok; B → Syd forstyrret; B's system is down, so Syd → B and Nord → B (no traffic) are down;
#: Nord × A has no traffic; Syd → Nord is a route outside the matrix
MATRIX = HealthMatrix(
    AT,
    (
        route(HOSPITAL, MUNICIPALITY, HealthState.OK),
        route(MUNICIPALITY2, HOSPITAL, HealthState.DEGRADED, "kvitteringer mangler <3>", pending=2),
        route(HOSPITAL, HOSPITAL2, HealthState.OK),
    ),
    frozenset({MUNICIPALITY2}),
)


def render(matrix: HealthMatrix) -> str:
    pages = Pages(SiteLayout(jinja2.FileSystemLoader(str(NOTIFY_TEMPLATES / "web"))))
    return pages.render(make_mocked_request("GET", "/routes"), "routes.html", page_context(matrix, PARTNERS))


def cell_words(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", m).split("\n")[0] for m in re.findall(r'<td class="[a-z]+">(.*?)(?:<br>|</td>)', html)
    ]


def test_cells_say_their_state_and_the_summary_counts_them() -> None:
    html = render(MATRIX)
    words = cell_words(html)
    assert words == ["ok", "nede", "ingen trafik", "nede", "ok"]  # Syd × (A, B), Nord × (A, B), Syd → Nord
    assert "Celler: 2 ok, 0 forstyrret, 2 nede, 1 ingen trafik." in html
    assert "Målt 24.11.2026 kl. 10:00:00." in html
    assert '<td class="quiet">ingen trafik</td>' in html
    assert "← forstyrret: kvitteringer mangler &lt;3&gt;" in html and "2 venter" in html
    assert "<strong>Modtagere nede:</strong> Kommune B" in html


def test_names_are_escaped_and_the_page_has_the_site_layout() -> None:
    html = render(MATRIX)
    assert "Sygehus &lt;Syd&gt; &amp; Co" in html and "<Syd>" not in html
    assert '<a href="/status">Driftsstatus</a>' in html and '<a href="/login">Log ind</a>' in html
    assert '<meta http-equiv="refresh" content="30">' in html
    assert "<title>EDI-ruter: driftsstatus – Region Syddanmark</title>" in html


def test_before_the_first_measurement() -> None:
    html = render(HealthMatrix(None, (), frozenset()))
    assert "Endnu ikke målt. Celler: 0 ok, 0 forstyrret, 0 nede, 4 ingen trafik." in html


async def test_routes_page_without_notify(tmp_path: Path) -> None:
    """No [notify]: nobody can log in, and /routes still renders in the site's layout."""
    text = cfg.base(cfg.sqlite_url(tmp_path / "edigate.db"), "admin", "tok-admin") + "".join(
        cfg.partner(p.ean, p.name, p.kind, "Fyn", cfg.MAILBOX_DELIVERY) for p in PARTNERS
    )
    settings = parse_settings(tomllib.loads(text.replace("{port}", "8080")), base_dir=tmp_path)
    assert settings.notify is None
    async with TestClient(TestServer(build_app(settings))) as client:
        resp = await client.get("/routes")
        html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "Celler: 0 ok, 0 forstyrret, 0 nede, 4 ingen trafik." in html
    assert '<a href="/login">Log ind</a>' in html and "Sygehus &lt;Syd&gt; &amp; Co" in html


def test_a_capped_queue_reads_over_the_cap() -> None:
    """The health tick counts a route's waiting messages only up to the cap (issue 14): the page says so."""
    capped = HealthMatrix(
        AT,
        (route(MUNICIPALITY2, HOSPITAL, HealthState.DOWN, "modtageren svarer ikke", pending=PENDING_COUNT_CAP + 1),),
        frozenset(),
    )
    html = render(capped)
    assert f"over {PENDING_COUNT_CAP} venter" in html
    assert f"{PENDING_COUNT_CAP + 1} venter" not in html
