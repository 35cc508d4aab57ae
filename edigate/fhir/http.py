"""A small HTTP/1.1 client for the FHIR validator: kept-alive connections, one request at a time on each.

Why not aiohttp's client, which edigate uses elsewhere: every FHIR message makes one call to the validator,
and aiohttp's request machinery (request and response objects, header multidicts, timers, tracing hooks) cost
edigate ~260 µs of CPU per call, against ~90 µs for writing the request and reading the answer on a plain
asyncio stream (measured on this 2-core VM, 16 KB bodies; bench/results/fhir_cpu.md). The validator is one
known peer: a POST with a Content-Length body, answers with a Content-Length or chunked body.

A connection that was idle in the pool may have been closed by the server meanwhile; a request that finds it
closed before any byte of an answer came back is sent once more on a new connection (validation changes
nothing, so sending it twice is harmless).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

MAX_HEAD_BYTES = 64 * 1024  # status line and headers
MAX_BODY_BYTES = 64 * 1024 * 1024  # an OperationOutcome for the largest Bundle is a few MB at most


class ValidatorHttpError(Exception):
    """The exchange failed (refused, reset, closed early, or an answer that is not HTTP/1.x)."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: int = 0  # requests answered on it

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class ValidatorHttp:
    """Requests to one base URL (http:// or https://, with an optional path prefix)."""

    def __init__(self, base_url: str, *, max_idle: int = 4) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls: ssl.SSLContext | None = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = self.port == (443 if self.tls else 80)
        self.host_header = host if default_port else f"{host}:{self.port}"
        self.max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self.opened = 0  # connections opened so far
        self._targets: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    async def post(
        self, path: str, body: bytes, content_type: str, *, params: dict[str, str] | None = None, timeout: float
    ) -> HttpAnswer:
        head = (
            f"POST {self._target(path, params)} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        return await self._exchange(head + body, timeout)

    async def get(self, path: str, *, timeout: float) -> HttpAnswer:
        head = f"GET {self._target(path, None)} HTTP/1.1\r\nHost: {self.host_header}\r\n\r\n".encode("latin-1")
        return await self._exchange(head, timeout)

    def close(self) -> None:
        while self._idle:
            self._idle.popleft().close()

    # ------------------------------------------------------------------------------------ internals

    def _target(self, path: str, params: dict[str, str] | None) -> str:
        key = (path, tuple(params.items()) if params else ())
        target = self._targets.get(key)
        if target is None:  # a handful of distinct targets (one per standard): encoded once each
            target = self._targets[key] = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        return target

    async def _exchange(self, request: bytes, timeout: float) -> HttpAnswer:
        async with asyncio.timeout(timeout):
            while True:
                conn = self._reuse()
                reused = conn is not None
                if conn is None:
                    conn = await self._open()
                try:
                    answer, keep = await self._send(conn, request)
                except _ClosedBeforeAnswer:
                    conn.close()
                    if reused:
                        continue  # the server closed the idle connection: once more on a new one
                    raise ValidatorHttpError("the connection closed before an answer") from None
                except BaseException:
                    conn.close()  # its state is unknown (timeout, cancel, a broken answer)
                    raise
                conn.used += 1
                if keep and len(self._idle) < self.max_idle and conn.usable():
                    self._idle.append(conn)
                else:
                    conn.close()
                return answer

    def _reuse(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to have timed out
            if conn.usable():
                return conn
            conn.close()
        return None

    async def _open(self) -> _Connection:
        try:
            if self.tls is None:
                reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD_BYTES)
            else:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=MAX_HEAD_BYTES, ssl=self.tls, server_hostname=self.host
                )
        except OSError as exc:
            raise ValidatorHttpError(f"cannot connect ({type(exc).__name__})") from None
        self.opened += 1
        return _Connection(reader, writer)

    async def _send(self, conn: _Connection, request: bytes) -> tuple[HttpAnswer, bool]:
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            head = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _ClosedBeforeAnswer() from None
            raise ValidatorHttpError("the answer ended inside its headers") from None
        except (ConnectionError, BrokenPipeError):
            if conn.used:
                raise _ClosedBeforeAnswer() from None
            raise ValidatorHttpError("the connection was reset") from None
        except asyncio.LimitOverrunError:
            raise ValidatorHttpError("the answer's headers are too long") from None
        except OSError as exc:
            raise ValidatorHttpError(f"the connection failed ({type(exc).__name__})") from None
        status, version, headers = _parse_head(head)
        try:
            no_body = status in (204, 304) or 100 <= status < 200
            body = b"" if no_body else await self._read_body(conn.reader, headers)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            raise ValidatorHttpError("the answer's body ended early or was malformed") from None
        close = headers.get("connection", "").lower()
        keep = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        keep = keep and close != "close" and (version != "HTTP/1.0" or close == "keep-alive")
        return HttpAnswer(status, body), keep

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        chunks: list[bytes] = []
        total = 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                line = await reader.readuntil(b"\r\n")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValidatorHttpError("a chunk size that is not a number") from None
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValidatorHttpError("the answer is too large")
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise ValidatorHttpError("a Content-Length that is not a number") from None
            if not 0 <= length <= MAX_BODY_BYTES:
                raise ValidatorHttpError("the answer is too large")
            return await reader.readexactly(length)
        # no length: the body ends with the connection
        while chunk := await reader.read(65536):
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise ValidatorHttpError("the answer is too large")
            chunks.append(chunk)
        return b"".join(chunks)


class _ClosedBeforeAnswer(Exception):
    """The peer closed the connection before any byte of the answer."""


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not code.isdigit():
        raise ValidatorHttpError("the answer is not HTTP/1.x")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValidatorHttpError("a malformed header line in the answer")
            headers[name.strip().lower()] = value.strip()
    return int(code), version, headers
