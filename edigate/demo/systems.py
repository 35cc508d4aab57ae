"""The simulated hospital and municipality systems: in-process aiohttp receivers and senders.

- A municipality's EOJ system receives its messages over HTTP (edigate's `http` delivery) and answers each
  `pluspositivkvitt` letter with an XCTL03 positive receipt, posted back through the gateway with its own
  token, as a real EOJ system does. Its receiver can be *broken* (answers 503) and repaired.
- A hospital's system sends the letters (through `POST /api/v1/messages` with its token) and receives the
  receipts the gateway routes back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from edigate.clock import Clock
from edigate.demo.messages import MIX, Outgoing, build, fictitious_cpr
from edigate.medcom import build_positive_receipt, extract_envelope, new_identifier, parse


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Counts:
    """What the simulated systems saw; the demo prints these."""

    sent: Counter[str] = field(default_factory=Counter)  # by MedCom type
    accepted: int = 0
    not_accepted: int = 0
    delivered: Counter[str] = field(default_factory=Counter)  # by receiving municipality EAN
    refused_while_broken: int = 0
    receipts_sent: int = 0
    receipts_received: int = 0  # XCTL03 that reached the hospital systems
    send_errors: int = 0


class SimulatedSystems:
    """All the demo's partner systems behind one local HTTP server (`/edi/<EAN>`)."""

    def __init__(
        self,
        *,
        gateway_url: str,
        hospitals: dict[str, str],
        municipalities: dict[str, str],
        names: dict[str, str],
        clock: Clock,
        seed: int = 20261117,
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.hospitals = hospitals  # EAN -> token
        self.municipalities = municipalities
        self.names = names
        self.clock = clock  # callable -> aware datetime: the demo's clock, the same the service reads
        self.broken: set[str] = set()
        self.counts = Counts()
        self.port = free_port()
        self._random = random.Random(seed)
        self._serial = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/edi/{ean}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------------ receiving

    async def _receive(self, request: web.Request) -> web.Response:
        ean = request.match_info["ean"]
        body = await request.read()
        if ean in self.municipalities:
            if ean in self.broken:
                self.counts.refused_while_broken += 1
                return web.Response(status=503, text="EOJ-systemet er ikke tilgængeligt (demo)")
            self.counts.delivered[ean] += 1
            self._spawn(self._answer_with_receipt(ean, body))
            return web.Response(status=200, text="modtaget")
        if ean in self.hospitals:
            self.counts.receipts_received += 1
            return web.Response(status=200, text="modtaget")
        return web.Response(status=404, text="unknown system")

    async def _answer_with_receipt(self, municipality: str, body: bytes) -> None:
        """The EOJ system's XCTL03 for a `pluspositivkvitt` letter, a moment after it arrived."""
        try:
            await self._receipt_for(municipality, body)
        except Exception:  # a simulated system must not crash the demo; the count shows it
            self.counts.send_errors += 1

    async def _receipt_for(self, municipality: str, body: bytes) -> None:
        envelope = extract_envelope(parse(body))
        if envelope is None or envelope.acknowledgement_code != "pluspositivkvitt" or envelope.receipt:
            return
        await asyncio.sleep(0.2)
        receipt = build_positive_receipt(
            envelope,
            envelope_id=new_identifier("K"),
            letter_id=new_identifier("K"),
            sent=self._local_now(),
        )
        if await self._post(self.municipalities[municipality], receipt):
            self.counts.receipts_sent += 1

    # ------------------------------------------------------------------------------------------ sending

    async def send_letter(self, type_code: str | None = None, receiver: str | None = None) -> bool:
        """One letter from a random hospital ward to a municipality (random unless given)."""
        self._serial += 1
        sender = self._random.choice(sorted(self.hospitals))
        receiver = receiver or self._random.choice(sorted(self.municipalities))
        type_code = type_code or self._random.choices([t for t, _ in MIX], [w for _, w in MIX])[0]
        letter = Outgoing(
            type_code=type_code,
            envelope_id=new_identifier("D"),
            letter_id=new_identifier("L"),
            sender_ean=sender,
            sender_name=self.names.get(sender, "Sygehus"),
            receiver_ean=receiver,
            receiver_name=self.names.get(receiver, "Kommune"),
            cpr=fictitious_cpr(self._serial),
            sent=self._local_now(),
        )
        self.counts.sent[type_code] += 1
        ok = await self._post(self.hospitals[sender], build(letter))
        if ok:
            self.counts.accepted += 1
        else:
            self.counts.not_accepted += 1
        return ok

    async def _post(self, token: str, xml: bytes) -> bool:
        assert self._session is not None
        try:
            async with self._session.post(
                f"{self.gateway_url}/api/v1/messages",
                data=xml,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            ) as resp:
                await resp.read()
                return resp.status in (200, 202)
        except (aiohttp.ClientError, TimeoutError):
            self.counts.send_errors += 1
            return False

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _local_now(self) -> datetime:
        now = self.clock()
        return now.astimezone(ZoneInfo("Europe/Copenhagen")).replace(tzinfo=None)
