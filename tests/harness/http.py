"""One HTTP request to the service under test, answered as a `Reply` whatever the status."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """Status, body (parsed JSON, else the raw bytes or text), the raw bytes and the response headers."""

    status: int
    body: Any
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r:.400})"


def request(
    url: str,
    method: str,
    body: bytes | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
    text: bool = False,
) -> Reply:
    """Send with `Authorization: Bearer <token>` when a token is given; non-JSON bodies stay bytes unless `text`."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw.decode("utf-8", "replace") if text else raw
    return Reply(status, parsed, raw, got)
