"""How a message leaves edigate: POST to the receiver's inbox, or a file in its folder.

`mailbox` receivers are not pushed to: they poll /api/v1/mailbox (see edigate/web/mailbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

import aiohttp

from edigate.store.model import QueuedMessage


class DeliveryError(Exception):
    """One failed attempt; the text is kept as the message's last_error (never the body)."""


class Transport(Protocol):
    async def deliver(self, message: QueuedMessage) -> str: ...  # returns a short note for the history

    async def close(self) -> None: ...


class HttpTransport:
    """POST the XML; any 2xx is delivered. One keep-alive session per receiver."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, message: QueuedMessage) -> str:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {
            "Content-Type": "application/xml",
            "X-Edigate-Message-Id": str(message.id),
            "X-Edigate-Envelope-Id": message.envelope_id,
        }
        try:
            async with self._session.post(self.url, data=message.body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return f"http {resp.status}"
                raise DeliveryError(f"receiver answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class DirectoryTransport:
    """Write `<seq>-<envelope id>.xml` atomically.

    Temp file in the same folder, fsync, rename, fsync the folder: a reader never sees half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def filename(message: QueuedMessage) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in message.envelope_id)
        return f"{message.id:012d}-{safe}.xml"

    async def deliver(self, message: QueuedMessage) -> str:
        try:
            name = await asyncio.to_thread(self._write, message)
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.path}: {exc.strerror or exc}") from None
        return f"file {name}"

    def _write(self, message: QueuedMessage) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        name = self.filename(message)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(message.body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        except BaseException:
            with_suppress_unlink(tmp)
            raise
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return name

    async def close(self) -> None:
        return None


def with_suppress_unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
