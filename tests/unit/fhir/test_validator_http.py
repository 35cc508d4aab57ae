"""HttpFhirValidator's own HTTP client (edigate.fhir.http) against real HTTP servers on loopback: an aiohttp
server answering as the validator does (and in the other ways HTTP allows), and raw asyncio servers for
what a well-behaved server never does (close a kept-alive connection, answer garbage, never answer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from edigate.fhir.validation import FhirValidatorUnavailable, HttpFhirValidator

NO_ISSUES = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "information", "code": "informational", "diagnostics": "No issues"}],
}
ONE_ERROR = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "required", "diagnostics": "mangler", "expression": ["Bundle.id"]}],
}
BODY = b'{"resourceType": "Bundle", "type": "message"}'


@asynccontextmanager
async def validator_app(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return head + await reader.readexactly(length)


def ok_answer(payload: Mapping[str, object], extra: str = "") -> bytes:
    body = json.dumps(payload).encode()
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_one_kept_alive_connection_carries_message_after_message() -> None:
    peers: list[object] = []
    seen: list[tuple[str, str, str, bytes]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        seen.append((request.path, request.query.get("standard", ""), request.content_type, await request.read()))
        return web.json_response(NO_ISSUES if len(seen) % 2 else ONE_ERROR)

    async with validator_app(handler) as url:
        client = HttpFhirValidator(url, timeout_seconds=10)
        try:
            first = await client.validate("CareCommunication", BODY, "application/fhir+json")
            second = await client.validate("HospitalNotification", BODY, "application/json")
            third = await client.validate("CareCommunication", BODY, "application/fhir+json")
        finally:
            await client.stop()
    assert first.valid and third.valid and not second.valid
    assert second.errors[0].expression == ("Bundle.id",) and second.errors[0].diagnostics == "mangler"
    assert seen[1] == ("/validate", "HospitalNotification", "application/fhir+json", BODY)
    assert len(set(peers)) == 1  # the same client port: one connection


async def test_a_chunked_answer_and_a_url_with_a_path_prefix() -> None:
    paths: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        paths.append(request.path)
        await request.read()
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        resp.content_type = "application/fhir+json"
        await resp.prepare(request)
        text = json.dumps(ONE_ERROR).encode()
        for i in range(0, len(text), 7):
            await resp.write(text[i : i + 7])
        await resp.write_eof()
        return resp

    async with validator_app(handler) as url:
        client = HttpFhirValidator(url + "/fhir/", timeout_seconds=10)
        try:
            result = await client.validate("CareCommunication", BODY, "application/fhir+json")
            again = await client.validate("CareCommunication", BODY, "application/fhir+json")
        finally:
            await client.stop()
    assert result.errors[0].code == "required" and again == result
    assert paths == ["/fhir/validate", "/fhir/validate"]


async def test_a_kept_alive_connection_the_server_closes_is_replaced_without_a_failure() -> None:
    connections = unanswered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections, unanswered
        connections += 1
        await read_request(reader)
        writer.write(ok_answer(NO_ISSUES))  # kept alive (HTTP/1.1, a length, no "Connection: close")
        await writer.drain()
        try:
            await read_request(reader)  # the next request on it: closed unanswered, as after an idle timeout
            unanswered += 1
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async with raw_server(handle) as url:
        client = HttpFhirValidator(url, timeout_seconds=10)
        try:
            for _ in range(3):
                assert (await client.validate("CareCommunication", BODY, "application/fhir+json")).valid
        finally:
            await client.stop()
    assert (connections, unanswered) == (3, 2)  # each closed connection's request was sent again on a new one


async def test_connection_close_and_an_answer_delimited_by_the_close() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/fhir+json\r\n\r\n" + json.dumps(ONE_ERROR).encode())
        await writer.drain()
        writer.close()

    async with raw_server(handle) as url:
        client = HttpFhirValidator(url, timeout_seconds=10)
        try:
            for _ in range(2):
                result = await client.validate("CareCommunication", BODY, "application/fhir+json")
                assert result.errors[0].diagnostics == "mangler"
        finally:
            await client.stop()


@pytest.mark.parametrize(
    "answer, says",
    [
        (b"hello there\r\n\r\n", "not reachable"),  # not HTTP
        (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{}", "not reachable"),  # ends inside the body
        (b"", "not reachable"),  # closed without an answer on a new connection
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", "answered HTTP 500"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "other than an OperationOutcome"),
    ],
)
async def test_a_broken_answer_makes_the_validator_unavailable(answer: bytes, says: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async with raw_server(handle) as url:
        client = HttpFhirValidator(url, timeout_seconds=10)
        try:
            with pytest.raises(FhirValidatorUnavailable) as exc:
                await client.validate("CareCommunication", BODY, "application/fhir+json")
        finally:
            await client.stop()
    assert says in exc.value.reason
    assert client.status() == (False, exc.value.reason)


async def test_a_validator_that_never_answers_times_out() -> None:
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.close()

    async with raw_server(handle) as url:
        client = HttpFhirValidator(url, timeout_seconds=0.3)
        try:
            with pytest.raises(FhirValidatorUnavailable) as exc:
                await client.validate("CareCommunication", BODY, "application/fhir+json")
        finally:
            release.set()
            await client.stop()
    assert "did not answer within 0.3 s" in exc.value.reason


async def test_nobody_listening_is_unavailable_and_a_413_is_a_fatal_verdict() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = HttpFhirValidator(f"http://127.0.0.1:{port}", timeout_seconds=5)
    with pytest.raises(FhirValidatorUnavailable) as exc:
        await client.validate("CareCommunication", BODY, "application/fhir+json")
    assert "not reachable" in exc.value.reason
    await client.stop()

    async def too_large(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=413)

    async with validator_app(too_large) as url:
        client = HttpFhirValidator(url, timeout_seconds=5)
        try:
            result = await client.validate("CareCommunication", BODY, "application/fhir+json")
        finally:
            await client.stop()
    assert result.errors[0].severity == "fatal" and result.errors[0].code == "too-costly"


async def test_health_reads_the_validators_json() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "READY", "standards": ["CareCommunication"]})

    async with validator_app(handler) as url:
        client = HttpFhirValidator(url, timeout_seconds=5)
        try:
            assert (await client.health())["status"] == "READY"
            assert client.status() == (True, "ok")
        finally:
            await client.stop()
