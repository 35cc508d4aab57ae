"""Signed session cookies and CSRF tokens for the procedure's server-rendered forms.

The session is a small JSON payload signed with HMAC-SHA256. Every visitor gets a session id, also before
login, so the login form itself is CSRF-protected. A logged-in session also has server-side state
(`LoginSessions`): the cookie counts only while its session id is open there, so logging out ends the
session for good, even for a copy of the cookie. The CSRF token is an HMAC
of the session id: a form posted from another site, or with another session, does not verify. The cookie
is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

COOKIE = "edigate_notify_session"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    sid: str
    name: str | None = None
    is_admin: bool = False
    organisation: str | None = None
    role: str | None = None
    expires: int = 0

    @property
    def logged_in(self) -> bool:
        return self.name is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_session(**fields: Any) -> Session:
    return Session(sid=secrets.token_urlsafe(18), expires=int(time.time()) + MAX_AGE_SECONDS, **fields)


def encode(secret: bytes, session: Session) -> str:
    payload = _b64(json.dumps(session.__dict__, separators=(",", ":")).encode("utf-8"))
    mac = _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def decode(secret: bytes, value: str | None) -> Session | None:
    """The session in a cookie value, or None if it is missing, tampered with or expired."""
    if not value or "." not in value:
        return None
    payload, mac = value.rsplit(".", 1)
    expected = _b64(hmac.new(secret, payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(**data)
    except (ValueError, TypeError, binascii.Error):
        return None
    if session.expires < time.time():
        return None
    return session


def csrf_token(secret: bytes, session: Session) -> str:
    return _b64(hmac.new(secret, b"csrf|" + session.sid.encode("ascii"), hashlib.sha256).digest())


def csrf_ok(secret: bytes, session: Session | None, token: str | None) -> bool:
    if session is None or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, session), token)


def expires_at(session: Session) -> datetime:
    return datetime.fromtimestamp(session.expires, UTC)


class LoginSessions(Protocol):
    """The server-side list of open logged-in sessions (by session id)."""

    async def open(self, sid: str, expires_at: datetime) -> None: ...
    async def is_open(self, sid: str) -> bool: ...
    async def close(self, sid: str) -> None: ...


class MemoryLoginSessions:
    """`LoginSessions` in this process only: for one instance without a database (tests, tools)."""

    def __init__(self) -> None:
        self._open: dict[str, datetime] = {}

    async def open(self, sid: str, expires_at: datetime) -> None:
        now = datetime.now(UTC)
        self._open = {k: v for k, v in self._open.items() if v > now}
        self._open[sid] = expires_at

    async def is_open(self, sid: str) -> bool:
        until = self._open.get(sid)
        return until is not None and until > datetime.now(UTC)

    async def close(self, sid: str) -> None:
        self._open.pop(sid, None)
