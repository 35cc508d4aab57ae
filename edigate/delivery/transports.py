"""How a message leaves edigate: POST to the receiver's inbox, or a file in its folder.

`mailbox` receivers are not pushed to: they poll /api/v1/mailbox (see edigate/web/mailbox.py), which
answers JSON (escaped), so nothing of a message reaches a header or a file name there.

Values from a message that go into an HTTP header are refused when they are not plain visible ASCII
(a line break would make every attempt fail, or smuggle a header); values that go into a file name are
encoded. A refusal is a :class:`PermanentDeliveryError`: the message can never be sent, so the worker
dead-letters it at once instead of blocking the receiver's FIFO queue with retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

import aiohttp

from edigate.store.model import QueuedMessage


class DeliveryError(Exception):
    """One failed attempt; the text is kept as the message's last_error (never the body)."""


class PermanentDeliveryError(DeliveryError):
    """The message cannot be sent by construction (not the receiver's fault): no retry will help."""


# visible ASCII, inner spaces allowed: survives every HTTP stack unchanged (no folding, no trimming)
_HEADER_VALUE = re.compile(r"[!-~](?:[ -~]*[!-~])?")
FILE_ID_MAX = 64


def header_value(name: str, value: str) -> str:
    """`value` as it may go into header `name`, or PermanentDeliveryError (never quoting the value)."""
    if _HEADER_VALUE.fullmatch(value) is None or len(value) > 200:
        raise PermanentDeliveryError(
            f"kan ikke sendes over HTTP: værdien til headeren {name} er ikke 1–200 synlige ASCII-tegn "
            "(et linjeskift eller kontroltegn i kuvertens id?)"
        )
    return value


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
            "Content-Type": message.content_type,  # application/xml, application/fhir+json or +xml
            "X-Edigate-Message-Id": str(message.id),
            "X-Edigate-Envelope-Id": header_value("X-Edigate-Envelope-Id", message.envelope_id),
        }
        try:
            async with self._session.post(self.url, data=message.body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return f"http {resp.status}"
                raise DeliveryError(f"modtageren svarede HTTP {resp.status}")
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
        """ASCII letters, digits, '-' and '_' only, bounded: any envelope id gives a legal, unique name
        (the message id makes it unique; the envelope id part is for people)."""
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in message.envelope_id)
        extension = ".json" if message.content_type.endswith("json") else ".xml"
        return f"{message.id:012d}-{safe[:FILE_ID_MAX]}{extension}"

    async def deliver(self, message: QueuedMessage) -> str:
        try:
            name = await asyncio.to_thread(self._write, message)
        except OSError as exc:
            raise DeliveryError(f"kan ikke skrive til {self.path}: {exc.strerror or exc}") from None
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
