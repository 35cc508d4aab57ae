"""``GET /api/v1/routes`` (the health matrix with reasons, per-type drill-down) and ``GET /routes`` (the
hospital × municipality matrix as a server-rendered page in the site's layout, readable without a legend or
JS: template `edigate/web/templates/routes.html`, rendered by `edigate.web.pages`).

The API needs a bearer token: an admin sees every route, a partner or client the routes it is part of.
The page shows states and reasons only (no error texts, no message data) and is open like notify's
``/status``, so on-call can keep it on a screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web

from edigate.config import Partner
from edigate.health import HealthMatrix, HealthState, Reason, RouteHealth, RouteSignals
from edigate.medcom.ean import INVALID_EAN, is_valid_ean
from edigate.web.apispec import EAN as EAN_SCHEMA
from edigate.web.apispec import Operation, path_param, query_param, register, reply
from edigate.web.auth import caller_of, unauthorized
from edigate.web.errors import error
from edigate.web.keys import HEALTH_LOOP, PAGES, SETTINGS
from edigate.web.responses import UNAUTHORIZED, RouteMatrix, RouteReason, error_doc, json_reply
from edigate.web.responses import RouteHealth as RouteHealthBody

__all__ = ["NO_TRAFFIC", "STATE_WORDS", "add_routes", "page_context"]

EAN = r"{%s:[0-9]{13}}"
LOCAL = ZoneInfo("Europe/Copenhagen")
#: the Danish word written in every cell, so the colour is never the only carrier of the state
STATE_WORDS = {HealthState.OK: "ok", HealthState.DEGRADED: "forstyrret", HealthState.DOWN: "nede"}
#: a cell where neither direction had traffic in the health window: grey, since nothing was measured
NO_TRAFFIC = "ingen trafik"
RECEIVER_DOWN_TEXT = "modtagerens system er nede"
#: the page reloads itself, so a screen on the wall stays current without JavaScript
REFRESH_SECONDS = 30


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
        return error(400, f"state skal være en af {', '.join(states)}")
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
        return error(403, "ikke en af dine ruter")
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
    return error(404, "ukendt rute")


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


@dataclass(frozen=True)
class Cell:
    """What one cell of the page shows: its state word (never the colour alone), why, and what waits."""

    css: str  # the state's value (its colour), or "quiet": grey, nothing measured, which is not the same as ok
    word: str
    directions: tuple[str, ...] = ()  # "→ nede: modtagerens system er nede" for a direction that is not ok
    pending: int = 0


def _cell(a_to_b: RouteHealth | None, b_to_a: RouteHealth | None) -> Cell:
    """The worse direction's state, or "ingen trafik" (grey) when neither direction has any."""
    if a_to_b is None and b_to_a is None:
        return Cell("quiet", NO_TRAFFIC)
    state = _worst((a_to_b, b_to_a))
    directions = []
    for arrow, route in (("→", a_to_b), ("←", b_to_a)):
        if route is None or route.state is HealthState.OK:
            continue
        why = "; ".join(r.text for r in route.reasons[:2])
        directions.append(f"{arrow} {STATE_WORDS[route.state]}{': ' + why if why else ''}")
    pending = sum(r.signals.pending_count for r in (a_to_b, b_to_a) if r is not None)
    return Cell(state.value, STATE_WORDS[state], tuple(directions), pending)


def page_context(matrix: HealthMatrix, partners: Iterable[Partner]) -> dict[str, object]:
    """The hospital × municipality matrix, the other routes, and a summary counted from the very cells shown."""
    partners = list(partners)
    names = {p.ean: p.name for p in partners}
    hospitals = [p for p in partners if p.kind == "hospital"]
    municipalities = [p for p in partners if p.kind == "municipality"]
    rows = [
        (h.name, [_cell(_route(h.ean, m.ean, matrix), _route(m.ean, h.ean, matrix)) for m in municipalities])
        for h in hospitals
    ]
    hospital_eans, municipality_eans = {p.ean for p in hospitals}, {p.ean for p in municipalities}
    others = [
        (f"{names.get(r.sender, r.sender)} → {names.get(r.receiver, r.receiver)}", _cell(r, None))
        for r in matrix.routes
        if not (
            {r.sender, r.receiver} <= hospital_eans | municipality_eans
            and {r.sender, r.receiver} & hospital_eans
            and {r.sender, r.receiver} & municipality_eans
        )
    ]
    words = [c.word for _, cells in rows for c in cells] + [c.word for _, c in others]
    order = [*(STATE_WORDS[s] for s in HealthState), NO_TRAFFIC]
    return {
        "measured_at": matrix.at.astimezone(LOCAL).strftime("%d.%m.%Y kl. %H:%M:%S") if matrix.at else None,
        "summary": ", ".join(f"{words.count(w)} {w}" for w in order),
        "no_traffic": NO_TRAFFIC,
        "receivers_down": [names.get(e, e) for e in sorted(matrix.receivers_down)],
        "municipalities": [m.name for m in municipalities],
        "rows": rows,
        "others": others,
        "refresh_seconds": REFRESH_SECONDS,
    }


async def routes_page(request: web.Request) -> web.Response:
    context = page_context(_matrix(request.app), request.app[SETTINGS].partners)
    return request.app[PAGES].response(request, "routes.html", context)


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
