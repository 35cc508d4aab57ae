"""``GET /api/v1/routes`` (the health matrix with reasons, per-type drill-down) and ``GET /routes`` (the
hospital × municipality matrix as a plain server-rendered HTML page, readable without a legend or JS).

The API needs a bearer token: an admin sees every route, a partner or client the routes it is part of.
The page shows states and reasons only (no error texts, no message data) and is open like notify's
``/status``, so on-call can keep it on a screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from edigate.health import HealthMatrix, HealthState, Reason, RouteHealth, RouteSignals
from edigate.medcom.ean import INVALID_EAN, is_valid_ean
from edigate.web.apispec import EAN as EAN_SCHEMA
from edigate.web.apispec import Operation, path_param, query_param, register, reply
from edigate.web.auth import caller_of, unauthorized
from edigate.web.errors import error
from edigate.web.keys import HEALTH_LOOP, SETTINGS
from edigate.web.responses import UNAUTHORIZED, RouteMatrix, RouteReason, error_doc, json_reply
from edigate.web.responses import RouteHealth as RouteHealthBody

__all__ = ["STATE_WORDS", "add_routes"]

EAN = r"{%s:[0-9]{13}}"
LOCAL = ZoneInfo("Europe/Copenhagen")
#: the Danish word written in every cell, so the colour is never the only carrier of the state
STATE_WORDS = {HealthState.OK: "ok", HealthState.DEGRADED: "forstyrret", HealthState.DOWN: "nede"}
RECEIVER_DOWN_TEXT = "modtagerens system er nede"
_COLOURS = {  # background, text: WCAG AA contrast on both
    HealthState.OK: ("#d7f0dd", "#14532d"),
    HealthState.DEGRADED: ("#fde9b8", "#713f12"),
    HealthState.DOWN: ("#f8c9c9", "#7f1d1d"),
}


def _matrix(app: web.Application) -> HealthMatrix:
    return app[HEALTH_LOOP].matrix


def _names(app: web.Application) -> dict[str, str]:
    return {p.ean: p.name for p in app[SETTINGS].partners}


# ---------------------------------------------------------------------------------------------- JSON


async def routes_json(request: web.Request) -> web.Response:
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    body = _matrix(request.app).as_dict(_names(request.app))
    q = request.query
    routes = body["routes"]
    if not caller.is_admin:
        routes = [r for r in routes if r["sender"] in caller.eans or r["receiver"] in caller.eans]
    states = [s.value for s in HealthState]
    if "state" in q and q["state"] not in states:  # a typo must not look like "no such routes"
        return error(400, f"state must be one of {', '.join(states)}")
    for key in ("sender", "receiver"):
        if key in q and not is_valid_ean(q[key]):  # never echoed: it may be a CPR
            return error(400, f"{key}: {INVALID_EAN}")
    for key in ("sender", "receiver", "state"):
        if key in q:
            routes = [r for r in routes if r[key] == q[key]]
    body["routes"] = routes
    body["counts"] = {s.value: sum(1 for r in routes if r["state"] == s.value) for s in HealthState}
    return json_reply(RouteMatrix.model_validate(body))


async def route_json(request: web.Request) -> web.Response:
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    sender, receiver = request.match_info["sender"], request.match_info["receiver"]
    for key, value in (("sender", sender), ("receiver", receiver)):
        if not is_valid_ean(value):  # no such route can exist; never echoed
            return error(404, f"{key}: {INVALID_EAN}")
    if not caller.is_admin and not ({sender, receiver} & caller.eans):
        return error(403, "not one of your routes")
    for r in _matrix(request.app).as_dict(_names(request.app))["routes"]:
        if r["sender"] == sender and r["receiver"] == receiver:
            return json_reply(RouteHealthBody.model_validate(r))
    names = _names(request.app)
    if sender in names and receiver in names:  # a known route without traffic
        quiet = _quiet_route(sender, receiver, _matrix(request.app))
        return json_reply(
            RouteHealthBody(
                sender=sender,
                sender_name=names[sender],
                receiver=receiver,
                receiver_name=names[receiver],
                state=quiet.state.value if quiet else "ok",
                reasons=[RouteReason(code=r.code, state=r.state.value, text=r.text) for r in quiet.reasons]
                if quiet
                else [],
                pending_count=0,
                types={},
            )
        )
    return error(404, "unknown route")


# ---------------------------------------------------------------------------------------------- HTML


def _worst(routes: Iterable[RouteHealth | None]) -> HealthState:
    states = [r.state for r in routes if r is not None]
    return max(states, key=lambda s: s.rank, default=HealthState.OK)


def _quiet_route(sender: str, receiver: str, matrix: HealthMatrix) -> RouteHealth | None:
    """A route without traffic is ok, unless its receiver's system is down: then it is down too."""
    if receiver not in matrix.receivers_down:
        return None
    reason = Reason("receiver_down", HealthState.DOWN, RECEIVER_DOWN_TEXT)
    return RouteHealth(sender, receiver, HealthState.DOWN, None, (reason,), RouteSignals(sender, receiver), {})


def _route(sender: str, receiver: str, matrix: HealthMatrix) -> RouteHealth | None:
    return matrix.get(sender, receiver) or _quiet_route(sender, receiver, matrix)


NO_TRAFFIC = "ingen trafik"
_NO_TRAFFIC_COLOURS = ("#e5e7eb", "#374151")  # grey: nothing measured, which is not the same as ok


def _cell_word(a_to_b: RouteHealth | None, b_to_a: RouteHealth | None) -> str:
    """What a cell says: the worse direction's state, or "ingen trafik" when neither direction has any."""
    if a_to_b is None and b_to_a is None:
        return NO_TRAFFIC
    return STATE_WORDS[_worst((a_to_b, b_to_a))]


def _cell(a_to_b: RouteHealth | None, b_to_a: RouteHealth | None, names: Mapping[str, str]) -> str:
    if a_to_b is None and b_to_a is None:
        bg, fg = _NO_TRAFFIC_COLOURS
        return f'<td class="quiet" style="background:{bg};color:{fg}">{NO_TRAFFIC}</td>'
    state = _worst((a_to_b, b_to_a))
    bg, fg = _COLOURS[state]
    lines = [f"<strong>{STATE_WORDS[state]}</strong>"]
    for arrow, route in (("→", a_to_b), ("←", b_to_a)):
        if route is None or route.state is HealthState.OK:
            continue
        why = "; ".join(r.text for r in route.reasons[:2])
        lines.append(f'<span class="dir">{arrow} {STATE_WORDS[route.state]}{": " + escape(why) if why else ""}</span>')
    pending = sum(r.signals.pending_count for r in (a_to_b, b_to_a) if r is not None)
    if pending:
        lines.append(f'<span class="dir">{pending} venter</span>')
    return f'<td class="{state.value}" style="background:{bg};color:{fg}">{"<br>".join(lines)}</td>'


def render_page(matrix: HealthMatrix, partners: Iterable[Any]) -> str:
    partners = list(partners)
    names = {p.ean: p.name for p in partners}
    hospitals = [p for p in partners if p.kind == "hospital"]
    municipalities = [p for p in partners if p.kind == "municipality"]
    at = matrix.at.astimezone(LOCAL).strftime("%d.%m.%Y kl. %H:%M:%S") if matrix.at else "endnu ikke målt"

    head = "".join(f'<th scope="col">{escape(m.name)}</th>' for m in municipalities)
    rows = []
    words: list[str] = []  # what every cell says, so the summary counts exactly what is shown
    for h in hospitals:
        pairs = [(_route(h.ean, m.ean, matrix), _route(m.ean, h.ean, matrix)) for m in municipalities]
        words += [_cell_word(a, b) for a, b in pairs]
        cells = "".join(_cell(a, b, names) for a, b in pairs)
        rows.append(f'<tr><th scope="row">{escape(h.name)}</th>{cells}</tr>')

    matrix_eans = {p.ean for p in hospitals} | {p.ean for p in municipalities}
    others = [
        r
        for r in matrix.routes
        if not (
            {r.sender, r.receiver} <= matrix_eans
            and {r.sender, r.receiver} & {p.ean for p in hospitals}
            and {r.sender, r.receiver} & {p.ean for p in municipalities}
        )
    ]
    other_rows = "".join(
        f"<tr><td>{escape(names.get(r.sender, r.sender))} → {escape(names.get(r.receiver, r.receiver))}</td>"
        f"{_cell(r, None, names)}</tr>"
        for r in others
    )
    words += [_cell_word(r, None) for r in others]
    down = ", ".join(escape(names.get(e, e)) for e in sorted(matrix.receivers_down))
    order = [*(STATE_WORDS[s] for s in HealthState), NO_TRAFFIC]
    summary = ", ".join(f"{words.count(w)} {w}" for w in order)
    return f"""<!doctype html>
<html lang="da"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>EDI-ruter: driftsstatus</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #111; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ border: 1px solid #888; padding: .35rem .5rem; vertical-align: top; font-size: .9rem; }}
thead th {{ writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; }}
td strong {{ text-transform: uppercase; }}
.dir {{ font-size: .8rem; }}
nav {{ margin-bottom: 1rem; }}
</style></head>
<body>
<nav aria-label="Hovedmenu"><a href="/status">Driftsstatus</a> · <a href="/routes">EDI-ruter</a> ·
<a href="/incidents/new">Meld nedbrud/nedlukning</a> · <a href="/status/contacts">Kontaktkort</a></nav>
<h1>EDI-ruter: driftsstatus</h1>
<p>Målt {at}. Celler: {summary}.
Hver celle viser sygehus ↔ kommune i begge retninger: <strong>ok</strong>, <strong>forstyrret</strong>,
<strong>nede</strong> eller <strong>{NO_TRAFFIC}</strong> (grå: ingen meddelelser i måleperioden, så intet er
målt). Siden opdateres hvert 30. sekund.</p>
{f"<p><strong>Modtagere nede:</strong> {down}</p>" if down else ""}
<table><caption>Sygehuse (rækker) × kommuner (kolonner)</caption>
<thead><tr><th scope="col">Sygehus</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{f"<table><caption>Øvrige ruter</caption><tbody>{other_rows}</tbody></table>" if other_rows else ""}
</body></html>
"""


async def routes_page(request: web.Request) -> web.Response:
    html = render_page(_matrix(request.app), request.app[SETTINGS].partners)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


OPERATIONS = (
    Operation(
        "get",
        "/api/v1/routes",
        "listRoutes",
        "The route health matrix: admin all routes, partners their own",
        "routes",
        "bearer",
        {
            200: reply("The matrix.", RouteMatrix),
            400: error_doc(
                "A bad query parameter: a state that is not one of the states, or a sender or receiver that is "
                "not a valid EAN/GLN (never echoed)."
            ),
            401: UNAUTHORIZED,
        },
        routes_json,
        parameters=(
            query_param("sender", EAN_SCHEMA, "sender EAN"),
            query_param("receiver", EAN_SCHEMA, "receiver EAN"),
            query_param("state", {"type": "string", "enum": [s.value for s in HealthState]}, "state"),
        ),
    ),
    Operation(
        "get",
        "/api/v1/routes/{sender}/{receiver}",
        "getRoute",
        "One route's health with reasons and per-type drill-down",
        "routes",
        "bearer",
        {
            200: reply("The route.", RouteHealthBody),
            401: UNAUTHORIZED,
            403: error_doc("Not one of the caller's routes."),
            404: error_doc("Unknown route, or a sender or receiver that is not a valid EAN/GLN (never echoed)."),
        },
        route_json,
        parameters=(
            path_param("sender", EAN_SCHEMA, "sender EAN"),
            path_param("receiver", EAN_SCHEMA, "receiver EAN"),
        ),
        pattern=f"/api/v1/routes/{EAN % 'sender'}/{EAN % 'receiver'}",
    ),
)


def add_routes(app: web.Application) -> None:
    """Register the routes; the matrix comes from ``app[HEALTH_LOOP]`` (``edigate.monitor``)."""
    register(app, OPERATIONS)
    app.router.add_get("/routes", routes_page)
