"""The demo's story, one printed line per step: normal traffic with receipts, one municipality's EOJ system
breaks, the route goes down, a draft incident appears, the admin confirms it (> 2 h expected), the notices
land in the mail folder, the system is repaired, the route recovers and the resolved notice goes out.

Every step reads what a user would read: the HTTP API (`/api/v1/routes`, `/api/v1/incidents`) and the .eml
files. A step that does not happen is reported by name with the reason, and the demo exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp

from edigate.demo.config import (
    ADMIN_TOKEN,
    BROKEN,
    DEMO_HEADER,
    EXAMPLE,
    HOSPITALS,
    MUNICIPALITIES,
    DemoTimings,
    demo_settings,
    write_config,
)
from edigate.demo.service import LOCAL, DemoClock, DemoService, demo_rules, demo_start
from edigate.demo.systems import SimulatedSystems, free_port
from edigate.tasks import cancel_and_wait

T = TypeVar("T")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")


class StepMissing(Exception):
    """A step of the story did not happen; the message says which and why."""


@dataclass
class Mail:
    path: Path
    subject: str
    to: str


@dataclass
class Story:
    out: TextIO
    speed: float
    workdir: Path
    keep: bool = False
    t0: float = field(default_factory=time.monotonic)
    missing: list[str] = field(default_factory=list)

    def say(self, step: str, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {step:<15} {text}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(f"{'':26}{text}", file=self.out, flush=True)


async def poll(what: Callable[[], Awaitable[T | None]], timeout: float, interval: float = 0.3) -> T | None:
    deadline = time.monotonic() + timeout
    while True:
        value = await what()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)


def read_mails(folder: Path) -> list[Mail]:
    mails = []
    for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
        with path.open("rb") as fh:
            msg = BytesParser(policy=policy.default).parse(fh, headersonly=True)
        mails.append(Mail(path, str(msg.get("Subject", "")), str(msg.get("To", ""))))
    return mails


def local(text: str | None) -> str:
    """An API instant as Danish local time, e.g. `tirsdag 10:42`."""
    if not text:
        return "?"
    t = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(LOCAL)
    return f"{WEEKDAYS[t.weekday()]} {t:%H:%M}"


async def run_demo(*, speed: float, workdir: Path | None, keep: bool, out: TextIO) -> int:
    """Run the whole story; returns the exit code (0: every step happened)."""
    if not EXAMPLE.is_file():
        print(f"edigate demo: the example configuration {EXAMPLE} is missing; run the demo from a clone", file=out)
        return 2
    created = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="edigate-demo-")) if workdir is None else workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        reset_workdir(workdir)
    except ValueError as exc:
        print(f"edigate demo: {exc}", file=out, flush=True)
        return 2
    (workdir / "mail").mkdir(exist_ok=True)
    story = Story(out=out, speed=speed, workdir=workdir, keep=keep)
    timings = DemoTimings(speed)
    clock = DemoClock(workdir / "clock.txt", demo_start(rules=demo_rules(EXAMPLE)))  # a day EDI support is open
    port = free_port()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    systems: SimulatedSystems | None = None
    service: DemoService | None = None
    traffic: asyncio.Task[None] | None = None
    try:
        clock.run()
        names = _names()
        systems = SimulatedSystems(
            gateway_url=f"http://127.0.0.1:{port}",
            hospitals=HOSPITALS,
            municipalities=MUNICIPALITIES,
            names=names,
            clock=clock,
        )
        await systems.start()
        raw = demo_settings(port=port, workdir=workdir, receiver_url=systems.base_url, timings=timings)
        config = write_config(raw, workdir / "edigate.toml")
        story.say("start", f"work dir {workdir}{' (new)' if created else ''}")
        story.note(f"config  {config} (Region Syddanmark example: {len(raw['partners'])} partners, FICTITIOUS EANs;")
        story.note(f"        {len(HOSPITALS)} hospitals and {len(MUNICIPALITIES)} municipalities on http delivery to")
        story.note(f"        the simulated systems at {systems.base_url})")
        start = clock.start
        story.note(
            "clock   the demo service runs on a test clock (EDIGATE_CLOCK_FILE) that starts "
            f"{WEEKDAYS[start.weekday()]}"
        )
        story.note(
            f"        {start:%Y-%m-%d} 10:00 Danish time, so notices go out at once (the notice window is 08:00–22:00)"
        )
        health = raw["health"]
        story.note(
            f"health  thresholds shortened for the demo: a receiver unreachable for "
            f"{health['down_unreachable_minutes'] * 60:.0f} s is down (production default 10 min); "
            f"recovery hold {health['recovery_hold_minutes'] * 60:.1f} s (2 min)"
        )
        service = DemoService(config, port, workdir, clock.path)
        service.start()
        await service.wait_ready(session)
        story.say(
            "service", f"edigate serve is ready at {service.base_url} (pid {service.proc.pid if service.proc else '?'})"
        )
        _where_to_look(story, service.base_url)
        has_routes = await _has_route_health(session, service.base_url)
        if not has_routes:
            story.say(
                "warning",
                "this edigate has no route health: GET /api/v1/routes answers 404 (the health monitor is not "
                "wired into edigate/app.py), so the route, incident and notice steps cannot happen",
            )

        await _normal_traffic(story, systems, timings)
        traffic = asyncio.get_running_loop().create_task(_background_traffic(systems, timings))
        await _outage(story, session, service.base_url, systems, timings, names, has_routes)
        await cancel_and_wait(traffic)
        traffic = None
        await _summary(story, systems, timings)
        _where_to_look(story, service.base_url, end=True)
        if story.missing:
            story.say("result", f"{len(story.missing)} step(s) did NOT happen: {', '.join(story.missing)}")
        else:
            story.say("result", "every step happened")
        if keep:
            story.say("keep", "the service and the simulated systems keep running; press Ctrl-C to stop")
            await asyncio.Event().wait()
        return 1 if story.missing else 0
    except (RuntimeError, TimeoutError) as exc:
        story.say("error", str(exc))
        return 1
    finally:
        await cancel_and_wait(traffic)
        if service is not None:
            code = service.stop()
            story.say("stop", f"edigate serve stopped (exit code {code}); its log: {service.log_path}")
        if systems is not None:
            await systems.stop()
        await clock.stop()
        await session.close()
        story.note(f"the work dir stays for you to read: {workdir}")


def reset_workdir(workdir: Path) -> None:
    """A work dir of an earlier demo run starts afresh (its database and mails would mix into the story);
    any other non-empty directory is refused rather than cleaned."""
    if not any(workdir.iterdir()):
        return
    config = workdir / "edigate.toml"
    if not (config.is_file() and config.read_text(encoding="utf-8").startswith(DEMO_HEADER)):
        raise ValueError(f"--workdir {workdir} is not empty and not an earlier demo's work dir; use a new one")
    for name in ("edigate.db", "edigate.db-wal", "edigate.db-shm", "service.log", "clock.txt"):
        (workdir / name).unlink(missing_ok=True)
    for folder in ("mail", "outbox"):
        if (workdir / folder).is_dir():
            shutil.rmtree(workdir / folder)


def _names() -> dict[str, str]:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    return {p["ean"]: p["name"] for p in raw["partners"]}


def _plain(name: str) -> str:
    return name.split(" (")[0]


def _where_to_look(story: Story, base: str, *, end: bool = False) -> None:
    story.say("look" if not end else "look again", "where to look:")
    story.note(f"status page  {base}/status         (the outage procedure's public page)")
    story.note(f"route matrix {base}/routes         (hospital × municipality, ok / forstyrret / nede / ingen trafik)")
    story.note(f"contacts     {base}/status/contacts")
    story.note(f"metrics      {base}/metrics        (Prometheus)")
    story.note(f"API          {base}/api/v1/routes, /api/v1/incidents  (Authorization: Bearer {ADMIN_TOKEN})")
    story.note(f"mail folder  {story.workdir / 'mail'}   (the notices, as .eml files)")


async def _has_route_health(session: aiohttp.ClientSession, base: str) -> bool:
    async with session.get(f"{base}/api/v1/routes", headers=ADMIN) as resp:
        return resp.status == 200


# ---------------------------------------------------------------------------------------------- steps


async def _normal_traffic(story: Story, systems: SimulatedSystems, timings: DemoTimings) -> None:
    letters = 15
    for i in range(letters):
        await systems.send_letter(receiver=sorted(MUNICIPALITIES)[i % len(MUNICIPALITIES)])
        await asyncio.sleep(timings.s(0.3))
    c = systems.counts
    mix = ", ".join(f"{t} {n}" for t, n in sorted(c.sent.items()))
    story.say("traffic", f"{sum(c.sent.values())} letters sent by the hospitals ({mix}); {c.accepted} accepted (202)")

    async def settled() -> bool | None:
        return True if c.receipts_received >= c.accepted else None

    await poll(settled, timeout=max(10.0, timings.s(10)))
    story.say(
        "receipts",
        f"{sum(c.delivered.values())} delivered to the municipalities' EOJ systems; "
        f"{c.receipts_sent} XCTL03 receipts posted back; {c.receipts_received} reached the hospitals",
    )


async def _background_traffic(systems: SimulatedSystems, timings: DemoTimings) -> None:
    """Wards keep sending during the outage; every third letter goes to the broken municipality."""
    n = 0
    while True:
        n += 1
        with contextlib.suppress(Exception):
            await systems.send_letter(receiver=BROKEN if n % 3 == 1 else None)
        await asyncio.sleep(timings.s(1.0))


async def _outage(
    story: Story,
    session: aiohttp.ClientSession,
    base: str,
    systems: SimulatedSystems,
    timings: DemoTimings,
    names: dict[str, str],
    has_routes: bool,
) -> None:
    broken = _plain(names[BROKEN])
    systems.broken.add(BROKEN)
    broke_at = time.monotonic()
    story.say("break", f"{broken}'s EOJ system stops answering (HTTP 503); edigate keeps its letters queued")

    async def routes_into() -> list[dict[str, Any]]:
        async with session.get(f"{base}/api/v1/routes", params={"receiver": BROKEN}, headers=ADMIN) as resp:
            if resp.status != 200:
                return []
            return list((await resp.json())["routes"])

    async def down() -> list[dict[str, Any]] | None:
        routes = await routes_into()
        hit = [r for r in routes if r["state"] == "down"]
        return hit or None

    down_routes = await poll(down, timeout=timings.s(24) + 45) if has_routes else None
    if down_routes:
        r = down_routes[0]
        reasons = "; ".join(x["text"] for x in r.get("reasons", [])[:2])
        story.say(
            "route down",
            f"{len(down_routes)} route(s) into {broken} are down after {time.monotonic() - broke_at:.0f}s "
            f"({r.get('pending_count', 0)} letters waiting; {reasons})",
        )
    else:
        _missing(story, "route down", "no route into the broken municipality was reported down by /api/v1/routes")

    async def draft() -> dict[str, Any] | None:
        async with session.get(f"{base}/api/v1/incidents", headers=ADMIN) as resp:
            if resp.status != 200:
                return None
            for incident in (await resp.json())["incidents"]:
                if BROKEN in incident["affected_organisations"] and incident["state"] not in ("resolved", "closed"):
                    return dict(incident)
        return None

    incident = await poll(draft, timeout=timings.s(5) + 20) if has_routes else None
    if incident is None:
        _missing(story, "draft incident", "no incident for the broken municipality in /api/v1/incidents")
        systems.broken.discard(BROKEN)
        story.say("repair", f"{broken}'s EOJ system answers again")
        return
    iid = incident["id"]
    story.say(
        "draft incident",
        f"#{iid} opened automatically (state {incident['state']}, start {local(incident['start'])}): "
        f"{incident['cause'][:90]}…",
    )
    async with session.get(f"{base}/status") as resp:
        public = await resp.text()
    if incident["cause"][:40] in public:
        _missing(story, "draft not public", f"the unconfirmed draft #{iid} is on the public /status page")
    else:
        story.say("draft not public", f"#{iid} is only on the desk's list: /status and the Atom feed do not show it")
    await _confirm(story, session, base, iid, incident)
    await _notices(story, timings)
    await _senders_told(story, names)

    await asyncio.sleep(timings.s(3))
    systems.broken.discard(BROKEN)
    repaired_at = time.monotonic()
    story.say("repair", f"{broken}'s EOJ system answers again; the queued letters go out in order")

    async def all_ok() -> list[dict[str, Any]] | None:
        routes = await routes_into()
        return routes if routes and all(r["state"] == "ok" for r in routes) else None

    ok = await poll(all_ok, timeout=timings.s(10) + 45)
    if ok:
        story.say(
            "recovered",
            f"all {len(ok)} routes into {broken} are ok again after {time.monotonic() - repaired_at:.0f}s "
            f"(they must stay good for the recovery hold first); waiting letters: "
            f"{sum(r.get('pending_count', 0) for r in ok)}",
        )
    else:
        _missing(story, "recovered", "the routes into the municipality did not return to ok in /api/v1/routes")

    async def resolved() -> dict[str, Any] | None:
        async with session.get(f"{base}/api/v1/incidents/{iid}", headers=ADMIN) as resp:
            body = await resp.json() if resp.status == 200 else {}
        return body if body.get("state") == "resolved" else None

    done = await poll(resolved, timeout=20)
    mail = await poll(lambda: _mail_like("[Løst]", story.workdir / "mail"), timeout=20) if done else None
    if done and mail:
        story.say(
            "resolved",
            f"incident #{iid} resolved automatically at {local(done.get('resolved_at'))}; "
            f"resolved notice '{mail.subject}' → {mail.to} ({mail.path.name})",
        )
    elif done:
        _missing(story, "resolved notice", f"incident #{iid} is resolved but no '[Løst]' .eml appeared")
    else:
        _missing(story, "resolved", f"incident #{iid} was not resolved after the route recovered")
    await _reporter_told(story, session, base)


async def _senders_told(story: Story, names: dict[str, str]) -> None:
    """The hospitals that send to the broken municipality must phone its duty phone at discharge: the
    automatic incident's notice goes to them too, not only to the municipality. The outbox writes one .eml
    per recipient, one after the other: wait for a hospital's copy, not only for the first notice."""
    raw = tomllib.loads((story.workdir / "edigate.toml").read_text(encoding="utf-8"))
    mailbox = {p["ean"]: p.get("mailbox") for p in raw.get("partners", [])}
    to: set[str] = set()

    async def hospitals_told() -> list[str] | None:
        notices = [m for m in read_mails(story.workdir / "mail") if m.subject.startswith("[EDI-nedbrud]")]
        to.update(m.to for m in notices)
        told = [names.get(e, e) for e in HOSPITALS if mailbox.get(e) and mailbox[e] in to]
        return told or None

    hospitals = await poll(hospitals_told, timeout=20)
    if hospitals:
        told = ", ".join(hospitals)
        story.say("senders told", f"the hospitals sending to the municipality got the notice too: {told}")
    else:
        _missing(story, "senders told", f"no hospital mailbox among the notice's recipients {sorted(to)}")


async def _reporter_told(story: Story, session: aiohttp.ClientSession, base: str) -> None:
    """A reported incident under the 2-hour rule: the lists hear nothing, the reporter hears it is solved."""
    eoj = {"Authorization": "Bearer demo-eoj-odense"}
    async with session.get(f"{base}/api/v1/incidents", headers=ADMIN) as resp:
        clock_now = None
        if resp.status == 200:
            clock_now = max((i["reported_at"] for i in (await resp.json())["incidents"]), default=None)
    now = datetime.fromisoformat(clock_now.replace("Z", "+00:00")) if clock_now else None
    body = {
        "kind": "acute",
        "cause": "EOJ genstartes efter opdatering",
        "affected_messages": ["XDIS17"],
        "expected_end": ((now or datetime.now().astimezone()) + timedelta(hours=1)).isoformat(),
        "contact": {"name": "Demo Kontaktperson", "phone": "+45 66 13 13 72", "email": "eoj@odense.example"},
    }
    async with session.post(f"{base}/api/v1/incidents", json=body, headers=eoj) as resp:
        filed = await resp.json() if resp.status == 201 else None
    if filed is None:
        _missing(story, "reporter told", "Odense's EOJ owner could not file a report")
        return
    async with session.post(f"{base}/api/v1/incidents/{filed['id']}/resolve", json={}, headers=eoj) as resp:
        if resp.status >= 300:
            _missing(story, "reporter told", f"resolving #{filed['id']} answered {resp.status}")
            return
    subject = f"[Kvittering] Løst: indberetning nr. {filed['id']}"
    mail = await poll(lambda: _mail_like(subject, story.workdir / "mail"), 20)
    if mail is None:
        _missing(story, "reporter told", f"no '[Kvittering] Løst' mail for #{filed['id']}")
        return
    story.say(
        "reporter told",
        f"Odense's EOJ owner reported #{filed['id']} (1 h: no list notice) and resolved it; "
        f"the reporter got '{mail.subject}' → {mail.to}",
    )


async def _confirm(story: Story, session: aiohttp.ClientSession, base: str, iid: int, incident: dict[str, Any]) -> None:
    if incident["state"] == "draft":
        async with session.post(f"{base}/api/v1/incidents/{iid}/confirm", headers=ADMIN) as resp:
            if resp.status >= 300:
                _missing(story, "confirm", f"POST /api/v1/incidents/{iid}/confirm answered {resp.status}")
                return
    start = datetime.fromisoformat(incident["start"].replace("Z", "+00:00"))
    expected_end = start + timedelta(hours=3)
    body = {
        "text": "Kommunens EOJ-leverandør fejlsøger; forventet løst om ca. 3 timer.",
        "expected_end": expected_end.isoformat(),
    }
    async with session.post(f"{base}/api/v1/incidents/{iid}/updates", json=body, headers=ADMIN) as resp:
        status = resp.status
    if status >= 300:
        _missing(story, "confirm", f"POST /api/v1/incidents/{iid}/updates answered {status}")
        return
    story.say(
        "confirmed",
        f"the admin confirmed #{iid} and set the expected end to {local(expected_end.isoformat())} "
        "(> 2 h: the procedure sends a notice to the distribution list)",
    )


async def _mail_like(prefix: str, folder: Path) -> Mail | None:
    for mail in read_mails(folder):
        if mail.subject.startswith(prefix):
            return mail
    return None


async def _notices(story: Story, timings: DemoTimings) -> None:
    notice = await poll(lambda: _mail_like("[EDI-nedbrud]", story.workdir / "mail"), timeout=20)
    if notice is None:
        _missing(story, "notice", "no '[EDI-nedbrud]' .eml appeared in the mail folder")
        return
    story.say("notice", f"'{notice.subject}' → {notice.to} ({notice.path.name})")
    others = [m for m in read_mails(story.workdir / "mail") if m.path != notice.path]
    for m in others[:4]:
        story.note(f"also: '{m.subject}' → {m.to}")
    story.note(f"{len(others) + 1} .eml files in {story.workdir / 'mail'} so far")


def _missing(story: Story, step: str, why: str) -> None:
    story.missing.append(step)
    story.say("NOT SEEN", f"{step}: {why}")


async def _summary(story: Story, systems: SimulatedSystems, timings: DemoTimings) -> None:
    c = systems.counts

    async def drained() -> bool | None:
        return True if c.receipts_received >= c.accepted else None

    await poll(drained, timeout=max(15.0, timings.s(15)))
    mails = read_mails(story.workdir / "mail")
    story.say(
        "summary",
        f"letters sent {sum(c.sent.values())}, accepted {c.accepted}, delivered {sum(c.delivered.values())}, "
        f"refused by the broken system {c.refused_while_broken} (retried), receipts back {c.receipts_received}; "
        f"{len(mails)} .eml files",
    )
    for mail in mails:
        story.note(f"{mail.path.name}: '{mail.subject[:80]}' → {mail.to}")
