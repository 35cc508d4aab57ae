"""The load generator the ingest benchmarks share: closed- and open-loop HTTP POST runs, their summary, and
the process handling around them (start/stop a server, its CPU and memory, the machine's load average).

A run takes `next_request()`, which returns (url, body, headers, expected status) for the next POST, so
OIOXML, FHIR and the bare validator are driven by the same loop and counted the same way.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import statistics
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness.service import cpu_seconds as process_cpu_seconds  # noqa: F401  (the benches read it here)

REPO = Path(__file__).resolve().parents[1]

Request = tuple[str, bytes, Mapping[str, str], int]  # url, body, headers, the status that means success


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of an ascending list (nearest rank, never past either end)."""
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q) - 1))] if ordered else 0.0


def summary(
    lat: list[float], elapsed: float, errors: Counter[int], ok_lat: list[float] | None = None
) -> dict[str, Any]:
    """Throughput and latency; `errors` counts every answer other than the expected one, by HTTP status.
    `ok_lat` (the latencies of the expected answers only) adds their count and percentiles: a 503 that comes
    back at once must not hide how long the accepted messages waited."""
    lat.sort()
    out = {
        "requests": len(lat),
        "errors": sum(errors.values()),
        "error_statuses": {str(k): v for k, v in sorted(errors.items())},
        "msgs_per_s": round(len(lat) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else 0.0,
        "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
    }
    if ok_lat is not None:
        ok_lat.sort()
        out["ok_per_s"] = round(len(ok_lat) / elapsed, 1) if elapsed else 0.0
        out["ok_p50_ms"] = round(statistics.median(ok_lat) * 1000, 1) if ok_lat else 0.0
        out["ok_p99_ms"] = round(percentile(ok_lat, 0.99) * 1000, 1)
    return out


Post = Callable[[Request, Counter[int]], Awaitable[bool]]  # send one request; True on the expected status


async def _post(session: aiohttp.ClientSession, request: Request, errors: Counter[int]) -> bool:
    """Send one request; True when it got the expected status."""
    url, body, headers, ok = request
    async with session.post(url, data=body, headers=dict(headers)) as resp:
        await resp.read()
        if resp.status != ok:
            errors[resp.status] += 1
            return False
    return True


async def closed_loop(
    next_request: Callable[[], Request], seconds: float, concurrency: int, timeout: float = 300
) -> dict[str, Any]:
    """`concurrency` keep-alive clients, each sending its next request as soon as the last one is answered."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        return await run_closed(lambda r, e: _post(session, r, e), next_request, seconds, concurrency)


async def open_loop(
    next_request: Callable[[], Request], seconds: float, rate: float, timeout: float = 300
) -> dict[str, Any]:
    """Send at a fixed schedule whatever the answers (no coordinated omission); latency counts from when a
    request was due, so a queue shows."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        return await run_open(lambda r, e: _post(session, r, e), next_request, seconds, rate)


async def run_closed(
    post: Post, next_request: Callable[[], Request], seconds: float, concurrency: int
) -> dict[str, Any]:
    """The closed loop over any HTTP client's `post` (aiohttp here, bench/raw_http.py's raw one)."""
    lat: list[float] = []
    ok_lat: list[float] = []
    errors: Counter[int] = Counter()
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            request = next_request()
            t0 = time.perf_counter()
            ok = await post(request, errors)
            lat.append(time.perf_counter() - t0)
            if ok:
                ok_lat.append(lat[-1])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(lat, time.perf_counter() - t0, errors, ok_lat)


async def run_open(post: Post, next_request: Callable[[], Request], seconds: float, rate: float) -> dict[str, Any]:
    """The open loop over any HTTP client's `post`: one task per scheduled request."""
    lat: list[float] = []
    ok_lat: list[float] = []
    errors: Counter[int] = Counter()

    async def one(scheduled: float, request: Request) -> None:
        ok = await post(request, errors)
        lat.append(time.perf_counter() - scheduled)
        if ok:
            ok_lat.append(lat[-1])

    tasks = []
    t0 = time.perf_counter()
    for i in range(int(seconds * rate)):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, next_request())))
    await asyncio.gather(*tasks)
    return summary(lat, time.perf_counter() - t0, errors, ok_lat)


# ------------------------------------------------------------------------------------------ processes


def own_cpu_seconds() -> float:
    """User + system CPU of this process (the load generator) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "unknown"


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("server did not become healthy")


def start(
    cmd: list[str], port: int, log: Path, cwd: Path = REPO, timeout: float = 30, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server (its output to `log`, `env` added to its environment) and wait until its /healthz answers."""
    fh = open(log, "ab")  # noqa: SIM115 - the child's output for its lifetime
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(cwd)}
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    fh.close()
    try:
        wait_healthy(port, proc, timeout)
    except BaseException:
        stop(proc)  # never leave a server behind that did not come up in time
        raise
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
