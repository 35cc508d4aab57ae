"""Storage trouble (a full disk, a database that went away) is a 503 with a reason, never a 500, and
readiness shows it.

* `storage_errors`: a middleware that turns a storage exception escaping any handler (the outage
  procedure's API and pages, the message APIs) into 503 with `Retry-After`; JSON on API paths (fitting
  both documented error bodies), a Danish page elsewhere. The request may not have completed: the text
  says to look before trying again, not that nothing was stored.
* `StorageTrouble`: the last storage failure seen (here or by ingest); `/readyz` is not ready while it
  is recent (until RECENT_SECONDS have passed or a write request succeeded, whichever comes first), or
  while the SQLite file's file system has less than `MIN_FREE_BYTES` free. PostgreSQL's
  disk cannot be looked at from here: there the recent failures are what readiness sees.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass

import sqlalchemy.exc
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from edigate.web.responses import RefusedAtTheEdge, json_reply

log = structlog.get_logger()

MIN_FREE_BYTES = 1024 * 1024  # SQLite: less free than this on the database's file system is "full"
RECENT_SECONDS = 15.0  # a storage failure keeps /readyz not ready this long after it was seen
RETRY_AFTER_SECONDS = 30
#: PostgreSQL SQLSTATE classes that mean the server cannot store now: 53 insufficient resources (disk
#: full, out of memory), 08 connection exception, 57 operator intervention (shutdown), 58 system error (I/O)
_SQLSTATE_CLASSES = ("53", "08", "57", "58")


@dataclass
class StorageTrouble:
    last_at: float | None = None
    reason: str = ""

    def record(self, reason: str) -> None:
        self.last_at = time.monotonic()
        self.reason = reason

    def clear(self) -> None:
        """A write went through: the storage takes writes again."""
        self.last_at = None

    def recent(self) -> str | None:
        """The reason of a failure seen within RECENT_SECONDS, else None."""
        if self.last_at is not None and time.monotonic() - self.last_at < RECENT_SECONDS:
            return self.reason
        return None


STORAGE_TROUBLE = web.AppKey("edigate.storage_trouble", StorageTrouble)


def storage_failure(exc: BaseException) -> str | None:
    """A short reason when `exc` means the storage cannot serve now (never its text: it may quote data)."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        orig = getattr(exc, "orig", None)
        sqlstate = str(getattr(orig, "sqlstate", "") or getattr(getattr(orig, "__cause__", None), "sqlstate", ""))
        if sqlstate.startswith("53100"):
            return "disk_full"
        if sqlstate[:2] in _SQLSTATE_CLASSES:
            return f"database_unavailable ({sqlstate})"
        if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            text = str(orig).lower()
            return "disk_full" if "full" in text else f"database_unavailable ({type(orig).__name__})"
        return None
    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # no pool connection in time
        return "database_unavailable (pool timeout)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    if isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and exc.errno == errno.EIO):
        return f"database_unavailable ({type(exc).__name__})"  # e.g. the database server refused to connect
    return None


def unavailable(request: web.Request, reason: str) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith(("/api/", "/readyz", "/healthz")):
        english = f"storage unavailable ({reason}): the request could not be completed; try again later"
        danish = (
            "Lageret er ikke tilgængeligt lige nu (fx fuld disk): handlingen kunne ikke gennemføres. "
            "Se efter, om den blev gemt, og prøv igen om lidt."
        )
        return json_reply(RefusedAtTheEdge(status="error", reason=english, fejl=danish), 503, headers)
    text = (
        "<!doctype html><html lang='da'><meta charset='utf-8'><title>Midlertidigt utilgængelig</title>"
        "<h1>Midlertidigt utilgængelig</h1><p>Lageret er ikke tilgængeligt lige nu (fx fuld disk), så "
        "handlingen kunne ikke gennemføres. Se efter, om den blev gemt, og prøv igen om lidt. Haster det, "
        "så ring til EDI-support.</p></html>"
    )
    return web.Response(text=text, status=503, content_type="text/html", charset="utf-8", headers=headers)


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def storage_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        reason = storage_failure(exc)
        if reason is None:
            raise
        request.app[STORAGE_TROUBLE].record(reason)
        log.error("storage_unavailable", path=request.path, reason=reason, error=type(exc).__name__)
        return unavailable(request, reason)
    if request.method in _WRITES and 200 <= response.status < 300:
        request.app[STORAGE_TROUBLE].clear()  # something was written: readiness need not wait any longer
    return response


def sqlite_free_bytes(storage_url: str) -> int | None:
    """Free bytes on the file system of a `sqlite:///…` file (None for PostgreSQL or when unknown)."""
    if not storage_url.startswith("sqlite:///"):
        return None
    path = storage_url[len("sqlite:///") :]
    if not path or path == ":memory:":
        return None
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)) or ".")
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def setup_storage_trouble(app: web.Application) -> None:
    app[STORAGE_TROUBLE] = StorageTrouble()
    app.middlewares.append(storage_errors)
