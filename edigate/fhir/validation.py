"""The FHIR validation interface edigate codes against, and its HTTP client.

The verdict is always the HL7 reference validator's (HAPI FHIR's validation, run by the JVM program in
validator/): this module only carries a Bundle to it and its OperationOutcome back. MedCom: receivers
accept warnings and reject errors, so `valid` means "no issue of severity error or fatal".

Diagnostics and expressions pass through a CPR scrub: the validator may quote a value (or a Patient id)
and OperationOutcomes leave the service in Acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from edigate.fhir.standards import BY_NAME
from edigate.tasks import cancel_and_wait

ERROR_SEVERITIES = ("error", "fatal")
DEFAULT_QUEUE_DEPTH = 8  # FHIR messages that may wait for a busy validator ([fhir] queue_depth)
MEDIA_TYPES = {
    "application/fhir+json": "application/fhir+json",
    "application/json": "application/fhir+json",
    "application/fhir+xml": "application/fhir+xml",
    "application/xml": "application/fhir+xml",
    "text/xml": "application/fhir+xml",
}
# Not inside a longer token: a resource id such as the UUID 6c150385-1234-41a4-… holds a CPR-shaped run, and
# mangling ids in FHIRPath expressions would point the sender at the wrong place (the message's own CPR numbers
# are removed exactly, wherever they stand, by FhirMessage.scrub).
_CPR = re.compile(r"(?<![0-9A-Za-z])\d{6}-?\d{4}(?![0-9A-Za-z])")
CPR_MARK = "(cpr fjernet)"


@dataclass(frozen=True)
class FhirIssue:
    severity: str  # fatal | error | warning | information
    code: str  # the FHIR IssueType: required, value, invariant, structure, code-invalid, not-found, ...
    diagnostics: str
    expression: tuple[str, ...]  # FHIRPath, as the reference validator gives it


@dataclass(frozen=True)
class FhirValidationResult:
    issues: tuple[FhirIssue, ...]

    @property
    def errors(self) -> tuple[FhirIssue, ...]:
        return tuple(i for i in self.issues if i.severity in ERROR_SEVERITIES)

    @property
    def valid(self) -> bool:
        return not self.errors

    def operation_outcome(self) -> dict[str, Any]:
        """The issues as a FHIR OperationOutcome (JSON object), e.g. for `edigate validate --json`."""
        issues = [
            {
                "severity": i.severity,
                "code": i.code,
                "diagnostics": i.diagnostics,
                **({"expression": list(i.expression)} if i.expression else {}),
            }
            for i in self.issues
        ]
        return {"resourceType": "OperationOutcome", "issue": issues}


class FhirValidatorUnavailable(Exception):
    """Validation cannot run now (Java or packages missing, the JVM down or starting): answer 503, retry later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FhirValidatorBusy(FhirValidatorUnavailable):
    """The validator works at its limit and `queue_depth` messages already wait for it: answer 503 at once
    (the sender resends) rather than let every FHIR answer wait longer and longer."""


class FhirValidator(Protocol):
    async def validate(self, standard: str, body: bytes, media_type: str) -> FhirValidationResult: ...

    def status(self) -> tuple[bool, str]: ...  # (available, reason) for /readyz


def scrub_cpr(text: str) -> str:
    """Replace anything shaped like a CPR number (ddmmyy-xxxx, with or without the dash)."""
    return _CPR.sub(CPR_MARK, text)


def parse_operation_outcome(data: Any) -> FhirValidationResult:
    """The validator's OperationOutcome (bytes or parsed JSON) -> result; ValueError when it is not one."""
    if isinstance(data, bytes | str):
        data = json.loads(data)
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        raise ValueError("not an OperationOutcome")
    issues = []
    for raw in data.get("issue") or ():
        if not isinstance(raw, dict):
            continue
        expression = raw.get("expression") or raw.get("location") or ()
        issues.append(
            FhirIssue(
                severity=str(raw.get("severity", "error")),
                code=str(raw.get("code", "processing")),
                diagnostics=scrub_cpr(str(raw.get("diagnostics", ""))),
                expression=tuple(scrub_cpr(str(e)) for e in expression),
            )
        )
    return FhirValidationResult(issues=tuple(i for i in issues if not _is_no_issues(i)))


def _is_no_issues(issue: FhirIssue) -> bool:
    return issue.severity == "information" and issue.code == "informational" and issue.diagnostics == "No issues"


def normalise_media_type(media_type: str) -> str:
    """`application/fhir+json` or `application/fhir+xml` for any FHIR/JSON/XML media type; ValueError else."""
    mime = media_type.split(";", 1)[0].strip().lower()
    try:
        return MEDIA_TYPES[mime]
    except KeyError:
        raise ValueError(f"not a FHIR media type: {mime!r}") from None


def fatal_result(code: str, diagnostics: str) -> FhirValidationResult:
    return FhirValidationResult(issues=(FhirIssue("fatal", code, diagnostics, ()),))


class HttpFhirValidator:
    """Client of a running validator (`POST {url}/validate?standard=…`). Never blocks the event loop; every
    call has a timeout; a refused connection, a timeout or a 5xx raise FhirValidatorUnavailable.

    At most `max_concurrency` requests are at the validator at once (its threads: more would only queue
    inside the JVM, out of sight); up to `queue_depth` more wait here on a semaphore, which costs the event
    loop nothing. One more than that is refused at once with FhirValidatorBusy, so a saturated validator
    bounds FHIR's latency and the number of open FHIR requests instead of letting both grow without end."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 30.0,
        max_concurrency: int = 2,
        queue_depth: int = DEFAULT_QUEUE_DEPTH,
        probe_interval_seconds: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.probe_interval_seconds = probe_interval_seconds
        self.max_concurrency = max_concurrency
        self.queue_depth = queue_depth
        self._monitor: asyncio.Task[None] | None = None
        self._limit = asyncio.Semaphore(max_concurrency)
        self._waiting = 0  # callers waiting for a free slot at the validator
        self.busy_refusals = 0
        self._session: aiohttp.ClientSession | None = None
        self._available = False
        self._reason = "the FHIR validator has not answered yet"
        self.last_health: dict[str, Any] | None = None
        self.last_ok: float | None = None

    @property
    def waiting(self) -> int:
        return self._waiting

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # keep-alive: one connection per slot at the validator, reused message after message
                connector=aiohttp.TCPConnector(limit=self.max_concurrency + 2, force_close=False),
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            )
        return self._session

    def status(self) -> tuple[bool, str]:
        return (self._available, "ok" if self._available else self._reason)

    def _down(self, reason: str) -> FhirValidatorUnavailable:
        self._available = False
        self._reason = reason
        return FhirValidatorUnavailable(reason)

    async def validate(self, standard: str, body: bytes, media_type: str) -> FhirValidationResult:
        if standard not in BY_NAME:
            raise ValueError(f"unknown FHIR standard {standard!r} (known: {', '.join(BY_NAME)})")
        content_type = normalise_media_type(media_type)
        await self._slot()
        try:
            async with self._client().post(
                f"{self.url}/validate",
                params={"standard": standard},
                data=body,  # the bytes as received: nothing re-serialised
                headers={"Content-Type": content_type},
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except TimeoutError:
            raise self._down(f"the FHIR validator did not answer within {self.timeout_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise self._down(f"the FHIR validator at {self.url} is not reachable ({type(exc).__name__})") from None
        finally:
            self._limit.release()
        if status == 413:
            return fatal_result("too-costly", "the message is larger than the FHIR validator accepts")
        if status != 200:
            raise self._down(f"the FHIR validator answered HTTP {status}")
        try:
            result = parse_operation_outcome(payload)
        except ValueError:
            raise self._down("the FHIR validator answered something other than an OperationOutcome") from None
        self._available = True
        self.last_ok = time.monotonic()
        return result

    async def _slot(self) -> None:
        """A slot at the validator: at once, after waiting behind at most `queue_depth` others, or busy."""
        if self._limit.locked() and self._waiting >= self.queue_depth:
            self.busy_refusals += 1
            raise FhirValidatorBusy(
                f"the FHIR validator is busy: {self.max_concurrency} messages in validation and "
                f"{self._waiting} waiting (queue_depth {self.queue_depth})"
            )
        self._waiting += 1
        try:
            await self._limit.acquire()
        finally:
            self._waiting -= 1

    async def health(self) -> dict[str, Any]:
        """GET /health (short timeout); updates `status()`; FhirValidatorUnavailable when it does not answer."""
        try:
            async with self._client().get(f"{self.url}/health", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    raise self._down(f"the FHIR validator's /health answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except TimeoutError:
            raise self._down("the FHIR validator's /health did not answer within 5 s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise self._down(f"the FHIR validator at {self.url} is not reachable ({type(exc).__name__})") from None
        self._available = True
        self.last_health = data
        return dict(data)

    async def start(self) -> None:
        """Probe /health now and every `probe_interval_seconds` (an external validator's state for /readyz);
        never raises: a validator that is down is 'unavailable' until it answers."""
        if self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._probe(), name="fhir-validator-probe")

    async def _probe(self) -> None:
        while True:
            with contextlib.suppress(FhirValidatorUnavailable):
                await self.health()
            await asyncio.sleep(self.probe_interval_seconds)

    async def stop(self) -> None:
        await cancel_and_wait(self._monitor)
        self._monitor = None
        if self._session is not None:
            await self._session.close()
            self._session = None


class DisabledFhirValidator:
    """FHIR validation switched off or not configured: every call is 'unavailable' with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def validate(self, standard: str, body: bytes, media_type: str) -> FhirValidationResult:
        raise FhirValidatorUnavailable(self.reason)

    def status(self) -> tuple[bool, str]:
        return (False, self.reason)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
