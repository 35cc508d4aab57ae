"""The body read deadline: a slow-drip body gets 408 and the server keeps serving others meanwhile."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edigate.web.errors import json_errors
from edigate.web.limits import setup_request_limits


async def echo(request: web.Request) -> web.Response:
    data = await request.json() if request.content_type == "application/json" else await request.read()
    return web.json_response({"got": len(data) if isinstance(data, bytes) else data})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application(client_max_size=10_000, middlewares=[json_errors])
    setup_request_limits(app, 0.5)
    app.router.add_post("/api/v1/echo", echo)
    app.router.add_get("/healthz", healthz)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def raw(srv: TestServer, head: bytes, chunks: Sequence[bytes] = (), pause: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(head)
    for c in chunks:
        await asyncio.sleep(pause)
        if reader.at_eof():
            break
        writer.write(c)
        try:
            await writer.drain()
        except ConnectionError:
            break
    data = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return data


def head(length: int, ctype: str = "application/xml") -> bytes:
    return (
        f"POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_slow_drip_body_gets_408_while_others_are_served(server: TestServer) -> None:
    started = time.monotonic()
    drip = asyncio.create_task(raw(server, head(100), [b"x"] * 3, pause=0.05))
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"200 OK" in await asyncio.wait_for(reader.read(), 2)  # not blocked by the drip
    writer.close()
    reply = await drip
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"kom ikke inden for 0.5 sekunder" in reply
    assert time.monotonic() - started < 3


async def test_gzip_bomb_is_bounded_by_the_size_limit(server: TestServer) -> None:
    bomb = gzip.compress(b"<" + b"a" * 20_000_000 + b">", 9)  # 20 MB of XML-ish bytes in ~20 KB
    reply = await raw(server, head(len(bomb))[:-2] + b"Content-Encoding: gzip\r\n\r\n" + bomb)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


async def test_announced_oversize_is_refused_unread(server: TestServer) -> None:
    reply = await raw(server, head(50_000_000))
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"10000 bytes" in reply


async def test_normal_bodies_reach_the_handler(server: TestServer) -> None:
    body = json.dumps({"a": 1}).encode()
    reply = await raw(server, head(len(body), "application/json") + body)
    assert reply.startswith(b"HTTP/1.1 200") and b'"got": {"a": 1}' in reply
    reply = await raw(server, head(5) + b"<x/>!")
    assert reply.startswith(b"HTTP/1.1 200") and b'"got": 5' in reply


async def test_chunked_body_over_the_limit_is_413(server: TestServer) -> None:
    chunk = b"x" * 4000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    reply = await raw(
        server,
        b"POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + body,
    )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="body_read_timeout_seconds"):
        setup_request_limits(web.Application(), 0)
