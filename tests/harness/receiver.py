"""A real HTTP receiver (a municipality's or hospital's inbox) running in a thread.

`mode` switches behaviour while the test runs: "ok" answers 200, "fail" answers 500, "hang" never
answers, "close" drops the connection. `fail_marker`, when set, makes "ok" answer 500 to bodies that
contain it, so one message can be refused while the ones queued behind it are taken.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.harness.ports import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    mode: str = "ok"
    fail_marker: bytes | None = None
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inbox"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.attempts += 1
            mode = self.mode
            marker = self.fail_marker
        if mode == "fail" or (marker is not None and marker in body):
            return web.Response(status=500, text="receiver down")
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "close":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body))
        return web.Response(status=200, text="ok")

    def start(self) -> Receiver:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=10 * 1024 * 1024)
            app.router.add_post("/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return [r.body for r in self.received]
            time.sleep(0.05)
        raise TimeoutError(f"receiver expected {count} messages, got {len(self.received)}")
