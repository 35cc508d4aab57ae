"""Drain benchmark: 10,000 queued messages delivered by the real `edigate serve` to an HTTP receiver.

The queue is filled through the store itself (the same code path as ingest, group commit included)
before the service starts, then the service is started and the clock runs from "healthy" until the
receiver has counted every message. Two shapes:
- 10 municipalities (10 FIFO queues, delivered in parallel) behind one receiver process;
- 1 municipality (one strict FIFO queue: one message in flight at a time, the MedCom ordering rule).

    .venv/bin/python bench/bench_drain.py [--messages 10000]
Writes bench/results/drain.json and bench/results/drain.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.gateway_config import BenchPartner, service_config  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from edigate.clock import system_clock  # noqa: E402
from edigate.medcom import Validator  # noqa: E402
from edigate.medcom.ean import with_check_digit  # noqa: E402
from edigate.store.db import Database  # noqa: E402
from edigate.store.messages import MessageStore  # noqa: E402
from edigate.store.model import IngestItem  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.unit.medcom.samples import HOSPITAL_EAN, xdis91_message  # noqa: E402

RECEIVER = textwrap.dedent("""
    import sys, time
    from aiohttp import web
    state = {"count": 0, "first": None, "last": None}
    async def inbox(request):
        await request.read()
        now = time.time()
        state["count"] += 1
        state["first"] = state["first"] or now
        state["last"] = now
        return web.Response(text="ok")
    async def count(request):
        return web.json_response(state)
    app = web.Application(client_max_size=6 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", inbox)
    app.router.add_get("/count", count)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


def municipality(i: int) -> str:
    return with_check_digit(f"5790001{i:05d}")  # config refuses EANs without a GS1 check digit


def config(port: int, db: Path, receiver_port: int, receivers: int) -> str:
    municipalities = [
        BenchPartner(
            municipality(i),
            f"Bench municipality {i}",
            "municipality",
            delivery=f'{{ kind = "http", url = "http://127.0.0.1:{receiver_port}/m{i}" }}',
        )
        for i in range(receivers)
    ]
    hospital = BenchPartner(HOSPITAL_EAN, "Bench hospital", "hospital")
    sections = "[delivery]\nbatch_size = 200"
    return service_config(port, f"sqlite:///{db}", [hospital, *municipalities], sections=sections)


async def fill(db_path: Path, n: int, receivers: int) -> float:
    validator = Validator()
    db = Database.open(f"sqlite:///{db_path}")
    store = MessageStore(db, system_clock)
    await store.start()
    t0 = time.perf_counter()
    items = []
    for i in range(n):
        body = xdis91_message(
            envelope_id=f"DR{i:010d}", letter_id=f"DRL{i:09d}", receiver_ean=municipality(i % receivers)
        )
        result = validator.validate(body)
        assert result.valid and result.envelope is not None
        items.append(IngestItem(result.envelope, body))
    for k in range(0, n, 1000):
        await asyncio.gather(*(store.accept(it) for it in items[k : k + 1000]))
    elapsed = time.perf_counter() - t0
    await store.stop()
    await db.close()
    return elapsed


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            get_json(url)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def run(n: int, receivers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="edigate-drain-") as tmp:
        tmpdir = Path(tmp)
        rx_port, gw_port = free_port(), free_port()
        db = tmpdir / "drain.db"
        fill_s = asyncio.run(fill(db, n, receivers))
        (tmpdir / "rx.py").write_text(RECEIVER, encoding="utf-8")
        (tmpdir / "gw.toml").write_text(config(gw_port, db, rx_port, receivers), encoding="utf-8")
        rx = subprocess.Popen([sys.executable, str(tmpdir / "rx.py"), str(rx_port)], cwd=REPO)
        wait_up(f"http://127.0.0.1:{rx_port}/count", rx)
        log = open(tmpdir / "gw.log", "wb")  # noqa: SIM115
        gw = subprocess.Popen(
            [sys.executable, "-m", "edigate", "serve", "--config", str(tmpdir / "gw.toml")],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_up(f"http://127.0.0.1:{gw_port}/healthz", gw)
            t0 = time.time()
            deadline = time.monotonic() + 600
            state: dict[str, object] = {}
            while time.monotonic() < deadline:
                state = get_json(f"http://127.0.0.1:{rx_port}/count")
                if int(state["count"]) >= n:  # type: ignore[call-overload]
                    break
                time.sleep(0.1)
            total = float(state["last"]) - t0  # type: ignore[arg-type]
            steady = float(state["last"]) - float(state["first"])  # type: ignore[arg-type]
            return {
                "messages": n,
                "receivers": receivers,
                "delivered": int(state["count"]),  # type: ignore[call-overload]
                "fill_seconds": round(fill_s, 2),
                "fill_msgs_per_s": round(n / fill_s, 1),
                "seconds_from_ready": round(total, 2),
                "msgs_per_s_from_ready": round(n / total, 1),
                "msgs_per_s_first_to_last": round(n / steady, 1) if steady > 0 else 0.0,
            }
        finally:
            gw.send_signal(signal.SIGTERM)
            gw.wait(30)
            log.close()
            rx.send_signal(signal.SIGTERM)
            rx.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    args = ap.parse_args()
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    for receivers in (10, 1):
        r = run(args.messages, receivers)
        results[f"{receivers}_receivers"] = r
        print(json.dumps(r), flush=True)
    lines = [
        "# Drain benchmark (bench/bench_drain.py)",
        "",
        f"Machine: {results['machine']}.",
        "",
        "| queues | messages | delivered | s from ready | msgs/s from ready | msgs/s first→last |",
        "|---|---|---|---|---|---|",
    ]
    for val in results.values():
        if isinstance(val, dict) and "receivers" in val:
            lines.append(
                f"| {val['receivers']} | {val['messages']} | {val['delivered']} | "
                f"{val['seconds_from_ready']} | {val['msgs_per_s_from_ready']} | "
                f"{val['msgs_per_s_first_to_last']} |"
            )
    write_results("drain", results, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
