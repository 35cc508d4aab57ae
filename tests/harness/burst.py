"""Many concurrent message POSTs with a kill part-way through: the load of the crash tests."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence

import aiohttp

from tests.unit.medcom.samples import xdis91_message


async def post_and_kill(
    urls: Sequence[str],
    token: str,
    total: int,
    *,
    tag: str,
    connections: int,
    kill_after: int,
    kill: Callable[[], None],
) -> tuple[set[str], collections.Counter[str]]:
    """POST `total` XDIS91 messages (envelope ids `ENV<tag>00000`…), message i to `urls[i % len(urls)]`,
    `connections` at a time, and call `kill` once, as soon as `kill_after` of them got 202.

    Returns the envelope ids that got 202 and the outcomes: status codes, or the name of the exception
    for a POST that got no answer (the sender would send that one again).
    """
    accepted: set[str] = set()
    outcomes: collections.Counter[str] = collections.Counter()
    killed = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int) -> None:
            env = f"ENV{tag}{i:05d}"
            body = xdis91_message(envelope_id=env, letter_id=f"LET{tag}{i:05d}")
            try:
                async with session.post(urls[i % len(urls)] + "/api/v1/messages", data=body, headers=headers) as resp:
                    await resp.read()
                    outcomes[str(resp.status)] += 1
                    if resp.status == 202:
                        accepted.add(env)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcomes[type(exc).__name__] += 1
                return
            if len(accepted) >= kill_after and not killed.is_set():
                killed.set()
                kill()

        await asyncio.gather(*(one(i) for i in range(total)))
    return accepted, outcomes
