"""The durable outbox's senders: mail (SMTP via aiosmtplib, or .eml files in a directory) and webhooks.

A row per (notice, recipient) is written with the notice, before anything is sent (see storage). The
sender marks a row sent immediately after the SMTP server's 250, one row at a time, so a restart resends
at most the one row that was in flight; its fixed Message-ID makes such a duplicate detectable.
Failures are kept on the row (`last_error`) and shown on the incident; retries back off. Retry timing
uses the system clock, not the procedure clock, because it is about the network, not the procedure.

Each pass first claims its rows (a lease of `outbox_lease_seconds` in the row, `leased_by` this sender),
renews the lease right before each send and marks the row only while it holds the lease. Only the leader
sends, but for a moment after its lock connection is cut two leaders can exist; the lease is what keeps
them from mailing one row twice. A sender that dies leaves its lease to run out; then the row is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

import aiohttp
import aiosmtplib
from yarl import URL

from notify.addresses import InvalidAddress, printable, smtp_recipient
from notify.config import MailSettings, NotifySettings
from notify.model import AuditEntry, OutboxRow
from notify.storage import NotifyStorage

log = logging.getLogger("notify.outbox")
SIGNATURE_HEADER = "X-Edigate-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The webhook signature header value: `sha256=<hex HMAC-SHA256 of the body>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def build_message(
    row: OutboxRow, mail: MailSettings, date: datetime, unsubscribe_url: str | None = None
) -> EmailMessage:
    """One outbox row as a mail. A subscriber's mail carries RFC 2369/8058 one-click unsubscribe headers, so
    the mail client's "Afmeld" button works (it POSTs `List-Unsubscribe=One-Click` to the URL)."""
    msg = EmailMessage()
    msg["From"] = mail.from_addr
    msg["To"] = row.address
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = row.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Edigate-Notice"] = row.notice_kind or "notice"
    if unsubscribe_url:
        targets = [f"<{unsubscribe_url}>"]
        if mail.unsubscribe_mailto:
            targets.append(f"<mailto:{mail.unsubscribe_mailto}?subject=afmeld%20{row.subscription_id}>")
        msg["List-Unsubscribe"] = ", ".join(targets)
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(row.body_text)
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html")
    return msg


def backoff(attempts: int, cap_seconds: float) -> timedelta:
    return timedelta(seconds=min(cap_seconds, 2.0 ** min(attempts, 16)))


def _system_now() -> datetime:
    return datetime.now(UTC)


class _FinalMark(Protocol):
    async def __call__(self, row_id: int, error: str, audit: Sequence[AuditEntry], *, owner: str) -> bool: ...


class OutboxSender:
    """Background task: sends due mail rows and webhook rows until stopped."""

    def __init__(
        self,
        storage: NotifyStorage,
        settings: NotifySettings,
        clock: Callable[[], datetime],
        *,
        on_change: Callable[[], None] | None = None,
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.wake = asyncio.Event()
        self.on_change = on_change or (lambda: None)
        #: with two instances on one database only the leader sends; the row leases cover two leaders at once
        self.is_leader = is_leader or (lambda: True)
        #: who holds a row's lease: unique per sender, also across restarts and hosts
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._session: aiohttp.ClientSession | None = None

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        with contextlib.suppress(Exception):  # best effort; the leases otherwise run out by themselves
            if recovered := await self.storage.recover_outbox():
                log.warning("freed %d outbox leases left by a stopped process", recovered)
        me = asyncio.current_task()
        try:
            while True:
                if me is not None and me.cancelling():
                    # a cancel swallowed somewhere below (a database driver): stop() must still end this loop
                    raise asyncio.CancelledError
                if not self.is_leader():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(1.0, self.settings.outbox_poll_seconds)):
                            await self.wake.wait()
                    self.wake.clear()
                    continue
                try:
                    busy = await self.send_due()
                except asyncio.CancelledError:
                    raise
                except Exception:  # keep the sender alive; the rows stay pending
                    log.exception("outbox pass failed")
                    busy = False
                if busy:
                    continue
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that arrives in the
                # same loop pass as the wake-up, and this loop then never stops (a hung shutdown)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.outbox_poll_seconds):
                        await self.wake.wait()
                self.wake.clear()
        finally:
            with contextlib.suppress(Exception):  # a clean stop hands its rows on without waiting
                await self.storage.release_outbox(self.owner)
            if self._session is not None:
                await self._session.close()

    def _lease_until(self) -> datetime:
        return _system_now() + timedelta(seconds=self.settings.outbox_lease_seconds)

    async def _claim(self, channel: str, limit: int) -> list[OutboxRow]:
        return await self.storage.claim_outbox(
            _system_now(), channel=channel, owner=self.owner, lease_until=self._lease_until(), limit=limit
        )

    async def _still_ours(self, row: OutboxRow) -> bool:
        """Renew the lease just before a send, so it outlasts the send; False: another sender has the row."""
        if await self.storage.renew_outbox(row.id, owner=self.owner, lease_until=self._lease_until()):
            return True
        log.warning("outbox row %d: lease lost before sending, left to its holder", row.id)
        return False

    async def _sent(self, row: OutboxRow) -> None:
        if not await self.storage.mark_sent(row.id, self.clock(), owner=self.owner):
            log.warning("outbox row %d sent, but its lease was lost: it may be sent again (same Message-ID)", row.id)

    async def send_due(self) -> bool:
        """One pass; True if it sent something (so there may be more)."""
        claimed = False
        try:
            mails = await self._claim("mail", 50)
            claimed = bool(mails)
            sent = False
            if mails:
                sent |= await (
                    self._send_directory(mails) if self.settings.mail.kind == "directory" else self._send_smtp(mails)
                )
            hooks = await self._claim("webhook", 20)
            claimed = claimed or bool(hooks)
            if hooks:
                sent |= await self._send_webhooks(hooks)
            return sent
        finally:
            if claimed:  # rows a pass stopped before (SMTP gone) are due again at once, as before the leases
                await self.storage.release_outbox(self.owner)

    # ---- failures
    async def _retry(self, row: OutboxRow, error: str) -> None:
        error = printable(error, 500)
        retry_at = _system_now() + backoff(row.attempts, self.settings.outbox_max_backoff_seconds)
        if not await self.storage.mark_retry(row.id, error, retry_at, owner=self.owner):
            return  # another sender holds the row now; its outcome counts
        if row.attempts == 0 and row.incident_id is not None:
            await self.storage.add_audit(
                [
                    AuditEntry(
                        self.clock(),
                        "edigate",
                        f"{row.channel}-fejl",
                        f"{printable(row.address)}: {error}",
                        incident_id=row.incident_id,
                    )
                ]
            )
        self.on_change()

    async def _poisoned(self, row: OutboxRow, stage: str, exc: BaseException) -> None:
        """This row, and only this row, cannot be built or sent: mark it failed with the reason, go on.

        Never raises: a row whose mark fails too is logged and left (its lease keeps it out of this
        pass), so one row can never stop the rows behind it."""
        reason = f"{stage}: {type(exc).__name__}: {_describe(exc)}"
        log.warning("outbox_row_failed row=%d channel=%s reason=%s", row.id, row.channel, printable(reason, 300))
        try:
            await self._failed(row, reason)
        except Exception:
            log.exception("outbox row %d: could not even mark it failed", row.id)

    # ---- mail: directory
    async def _send_directory(self, rows: list[OutboxRow]) -> bool:
        directory = Path(self.settings.mail.directory)
        for row in rows:
            if not await self._still_ours(row):
                continue
            try:
                smtp_recipient(row.address)
                unsubscribe = await self._unsubscribe_url(row)
                msg = bytes(build_message(row, self.settings.mail, self.clock(), unsubscribe))
            except Exception as exc:
                await self._poisoned(row, _build_stage(exc), exc)
                continue
            safe = re.sub(r"[^A-Za-z0-9@._-]", "_", row.address)[:100]
            target = directory / f"{row.id:08d}-{safe}.eml"
            try:
                await asyncio.to_thread(_write_atomically, target, msg)
            except OSError as exc:
                await self._retry(row, f"kan ikke skrive mail til {directory}: {exc.strerror or exc}")
                return False
            await self._sent(row)
        self.on_change()
        return True

    async def _unsubscribe_url(self, row: OutboxRow) -> str | None:
        """The subscription's own one-click unsubscribe URL; none for list mailboxes and the confirm mail."""
        if row.subscription_id is None or row.notice_kind == "confirm":
            return None
        sub = await self.storage.get_subscription(row.subscription_id)
        if sub is None or sub.state != "confirmed":
            return None
        return f"{self.settings.public_url}/subscriptions/unsubscribe/{sub.unsubscribe_token}"

    # ---- mail: SMTP
    async def _send_smtp(self, rows: list[OutboxRow]) -> bool:
        mail = self.settings.mail
        password = os.environ.get(mail.password_env, "") if mail.password_env else None
        smtp = aiosmtplib.SMTP(
            hostname=mail.host,
            port=mail.port,
            timeout=mail.timeout_seconds,
            start_tls=mail.starttls == "required",
            use_tls=False,
        )
        sender = parseaddr(mail.from_addr)[1] or mail.from_addr
        try:
            await smtp.connect()
            if mail.username:
                await smtp.login(mail.username, password or "")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = f"SMTP-serveren {mail.host}:{mail.port} svarer ikke: {_describe(exc)}"
            log.warning("smtp unavailable: %s", _describe(exc))
            for row in rows:
                await self._retry(row, error)
            return False
        try:
            for row in rows:
                if not await self._still_ours(row):
                    continue
                outcome = await self._send_one_smtp(smtp, row, sender)
                if outcome == "stop":
                    return False
            self.on_change()
            return True
        finally:
            with contextlib.suppress(Exception):
                await smtp.quit()

    async def _send_one_smtp(self, smtp: aiosmtplib.SMTP, row: OutboxRow, sender: str) -> str:
        """Send one row: "next" to go on with the next row, "stop" when the connection is gone."""
        try:
            recipient = smtp_recipient(row.address)
            unsubscribe = await self._unsubscribe_url(row)
            msg = build_message(row, self.settings.mail, self.clock(), unsubscribe)
        except Exception as exc:  # nothing was said to the server yet
            await self._poisoned(row, _build_stage(exc), exc)
            return "next"
        try:
            await smtp.send_message(msg, sender=sender, recipients=[recipient])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code = refusal.code if refusal else 0
            text = f"{code} {refusal.message}" if refusal else str(exc)
            if code >= 500:
                await self._refused(row, f"modtageradressen blev afvist: {text}")
            else:
                await self._retry(row, f"modtageradressen blev midlertidigt afvist: {text}")
            return await self._reset(smtp)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                await self._failed(row, f"mailen blev afvist af SMTP-serveren: {exc.code} {exc.message}")
                return await self._reset(smtp)
            await self._retry(row, f"SMTP-fejl {exc.code} {exc.message}")
            return "stop"
        except (
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPConnectError,
            OSError,
            TimeoutError,
        ) as exc:
            await self._retry(row, f"forbindelsen til SMTP-serveren blev afbrudt: {_describe(exc)}")
            return "stop"
        except Exception as exc:  # this row's own fault (a value the client refuses to put on the wire, …)
            await self._poisoned(row, "mailen kan ikke sendes", exc)
            return await self._reset(smtp)
        await self._sent(row)  # right after the server's 250
        return "next"

    @staticmethod
    async def _reset(smtp: aiosmtplib.SMTP) -> str:
        """After a row's failure the SMTP transaction may be half open (MAIL without DATA): RSET it, so
        the next row does not meet "503 nested MAIL command". If even that fails, end the pass."""
        try:
            await smtp.rset()
        except Exception as exc:
            log.warning("smtp reset after a failed row did not work (%s); next pass reconnects", _describe(exc))
            return "stop"
        return "next"

    async def _refused(self, row: OutboxRow, error: str) -> None:
        await self._give_up(row, error, "adresse-afvist", self.storage.mark_refused)

    async def _failed(self, row: OutboxRow, error: str) -> None:
        action = "webhook-fejlet" if row.channel == "webhook" else "mail-fejlet"
        await self._give_up(row, error, action, self.storage.mark_failed)

    async def _give_up(self, row: OutboxRow, error: str, action: str, mark: _FinalMark) -> None:
        """Record a final outcome with its audit entry (both only if this sender still holds the row)."""
        error = printable(error, 500)
        entry = AuditEntry(
            self.clock(), "edigate", action, f"{printable(row.address)}: {error}", incident_id=row.incident_id
        )
        await mark(row.id, error, [entry], owner=self.owner)
        self.on_change()

    # ---- webhooks
    async def _send_webhooks(self, rows: list[OutboxRow]) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds)
            )
        progressed = False
        for row in rows:
            if not await self._still_ours(row):
                continue
            try:
                progressed |= await self._send_one_webhook(self._session, row)
            except Exception as exc:  # this row's own fault: a URL or body that cannot be sent at all
                await self._poisoned(row, "webhooket kan ikke sendes", exc)
        if progressed:
            self.on_change()
        return progressed

    async def _send_one_webhook(self, session: aiohttp.ClientSession, row: OutboxRow) -> bool:
        secrets = {w.url: w.secret_env for w in self.settings.webhooks}
        env = secrets.get(row.address)
        secret = os.environ.get(env, "") if env else ""
        if env and not secret:
            await self._retry(row, f"webhook-hemmeligheden mangler (miljøvariablen {env} er ikke sat)")
            return False
        if not row.address.isprintable() or any(ch.isspace() for ch in row.address):
            raise ValueError("the address holds control characters or white space")
        url = URL(row.address)  # ValueError for a URL that cannot be one: the row's own fault
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("the address is not an http(s) URL")
        body = row.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret.encode("utf-8"), body),
            "X-Edigate-Delivery": row.message_id,
        }
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                if 200 <= resp.status < 300:
                    await self._sent(row)
                    return True
                error = f"webhook svarede HTTP {resp.status}"
        except aiohttp.InvalidURL:
            raise  # the row's own fault, not the network's: failed for good, by the caller
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = f"webhook kan ikke nås: {_describe(exc)}"
        await self._retry(row, error)
        return False


def _build_stage(exc: BaseException) -> str:
    return "ugyldig modtageradresse" if isinstance(exc, InvalidAddress) else "mailen kan ikke dannes"


def _describe(exc: BaseException) -> str:
    return printable(str(exc) or type(exc).__name__, 300)


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
