"""edigate's own FHIR validator process: `java -jar edigate-fhir-validator.jar`, started, kept, restarted.

The JVM loads each standard's package closure and validates one example per standard before it prints
`READY port=N` (30-80 s on two busy cores), so the service starts it in the background and OIOXML flows
meanwhile; until READY, and while it is down, `status()` says unavailable and why, and `validate` raises
FhirValidatorUnavailable (the gateway answers 503 with a transient-error Acknowledgement). A process that
dies is restarted with exponential backoff; Java, the jar or the packages missing is a reason, not a crash.

The JVM's stdin is a pipe whose write end only edigate holds, and the JVM runs with `--exit-on-stdin-eof`:
when edigate dies in any way (SIGKILL and the OOM killer included, which run no clean-up) the kernel
closes the pipe and the JVM exits, so no orphan validator is left holding memory and a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import structlog

from edigate.fhir.config import DEFAULT_JAR
from edigate.fhir.standards import STANDARDS, FhirStandard
from edigate.fhir.validation import (
    DEFAULT_QUEUE_DEPTH,
    FhirValidationResult,
    FhirValidatorUnavailable,
    HttpFhirValidator,
)
from edigate.tasks import cancel_and_wait

log = structlog.get_logger()

# The JVM's CPU priority below edigate's: validation is CPU-bound (0.1-0.3 s per CareCommunication) and on a
# machine where both share the cores, FHIR should queue rather than slow OIOXML intake and edigate's own
# event loop (bench/results/fhir_ingest.md). `nice` is POSIX; without it the JVM runs at edigate's priority.
VALIDATOR_NICENESS = 10

# The JVM's scheduling policy (`[fhir] validator_scheduling`): "normal" (SCHED_OTHER, the niceness alone) by
# default. "batch" (SCHED_BATCH: a waking validator thread does not preempt edigate) measured no better for
# OIOXML beside FHIR and worse for FHIR's p99 (bench/results/fhir_beside_ab.md); "idle" (SCHED_IDLE) runs it
# only on CPU nothing else wants, for a gateway where OIOXML matters far more than FHIR latency. Set with
# util-linux `chrt` (exec, same pid, every thread inherits it); without chrt: normal.
VALIDATOR_SCHEDULING = "normal"
SCHEDULING_POLICIES = {"normal": "--other", "batch": "--batch", "idle": "--idle"}

_READY = re.compile(rb"^READY port=(\d+)")


def standard_args(standards: Sequence[FhirStandard]) -> list[str]:
    """`--standard Name=package#version` for each standard: the Python side pins the root packages."""
    out: list[str] = []
    for s in standards:
        out += ["--standard", f"{s.name}={s.package.spec}"]
    return out


def priority_prefix(niceness: int, scheduling: str = VALIDATOR_SCHEDULING) -> list[str]:
    """`chrt --batch 0 nice -n 10`: the commands that exec the JVM with its CPU priority below edigate's.

    chrt before nice: chrt sets the policy (util-linux may use sched_setattr, which would reset a niceness
    set before it); nice only changes the niceness and keeps the policy."""
    if scheduling not in SCHEDULING_POLICIES:
        raise ValueError(f"scheduling must be one of {sorted(SCHEDULING_POLICIES)}, not {scheduling!r}")
    out: list[str] = []
    chrt = shutil.which("chrt") if scheduling != "normal" else None
    if chrt:
        out += [chrt, SCHEDULING_POLICIES[scheduling], "0"]
    nice = shutil.which("nice") if niceness else None
    if nice:
        out += [nice, "-n", str(niceness)]
    return out


def missing_prerequisite(
    java: str, jar: Path, package_dir: Path | None, standards: Sequence[FhirStandard]
) -> str | None:
    """Why the validator cannot start on this machine, or None."""
    if shutil.which(java) is None:
        return f"Java not found ([fhir] java = {java!r}): install a Java 17 runtime"
    if not jar.is_file():
        return f"the validator jar {jar} is missing: build it with `make validator` (Maven)"
    if package_dir is None:
        return "[fhir] package_dir is not set: no FHIR packages to validate against"
    if not package_dir.is_dir():
        return f"the FHIR package folder {package_dir} does not exist"
    for s in standards:
        tgz = package_dir / s.package.filename
        unpacked = package_dir / s.package.spec / "package" / "package.json"
        if not tgz.is_file() and not unpacked.is_file():
            return f"package {s.package.spec} ({s.name}) is not in {package_dir}"
    return None


class SupervisedFhirValidator:
    """Runs the validator JVM as a child process and validates through it (a FhirValidator)."""

    def __init__(
        self,
        *,
        package_dir: Path | None,
        java: str = "java",
        jar: Path = DEFAULT_JAR,
        threads: int = 2,
        queue_depth: int = DEFAULT_QUEUE_DEPTH,
        timeout_seconds: float = 30.0,
        start_timeout_seconds: float = 300.0,
        java_options: Sequence[str] = (),
        standards: Sequence[FhirStandard] = STANDARDS,
        backoff_initial_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        niceness: int = VALIDATOR_NICENESS,
        scheduling: str = VALIDATOR_SCHEDULING,
    ) -> None:
        self.package_dir = package_dir
        self.java = java
        self.jar = jar
        self.threads = threads
        self.queue_depth = queue_depth
        self.timeout_seconds = timeout_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.java_options = tuple(java_options)
        self.standards = tuple(standards)
        self.backoff_initial_seconds = backoff_initial_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.niceness = niceness
        self.scheduling = scheduling
        self._client: HttpFhirValidator | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._reason = "the FHIR validator has not been started"
        self._stderr: deque[str] = deque(maxlen=20)
        self.starts = 0  # processes started (restarts = starts - 1)
        self.ready_seconds: float | None = None  # the last start's time to READY

    # ------------------------------------------------------------------------------------ the interface

    async def validate(self, standard: str, body: bytes, media_type: str) -> FhirValidationResult:
        client = self._client
        if client is None:
            raise FhirValidatorUnavailable(self._reason)
        return await client.validate(standard, body, media_type)

    def status(self) -> tuple[bool, str]:
        if self._client is None:
            return (False, self._reason)
        return self._client.status()

    @property
    def url(self) -> str | None:
        return self._client.url if self._client else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    # ------------------------------------------------------------------------------------ the lifecycle

    async def start(self) -> None:
        """Start supervising in the background; returns at once (see `wait_ready`)."""
        if self._task is not None:
            return
        problem = missing_prerequisite(self.java, self.jar, self.package_dir, self.standards)
        if problem is not None:
            self._reason = f"FHIR validation unavailable: {problem}"
            log.warning("fhir_validator_unavailable", reason=self._reason)
            return
        self._reason = "the FHIR validator is starting"
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="fhir-validator")

    async def wait_ready(self, timeout: float) -> bool:
        """True once the validator answers (or False after `timeout`); for the CLI and tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status()[0]:
                return True
            if self._task is None or self._task.done():
                return False
            await asyncio.sleep(0.1)
        return self.status()[0]

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._terminate()
        await self._drop_client("the FHIR validator is stopped")

    # ------------------------------------------------------------------------------------ supervision

    async def _supervise(self) -> None:
        backoff = self.backoff_initial_seconds
        while True:
            started = time.monotonic()
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let supervision die: report and retry
                self._reason = f"the FHIR validator failed: {type(exc).__name__}: {exc}"
                log.warning("fhir_validator_failed", reason=self._reason)
            await self._terminate()
            await self._drop_client(self._reason)
            if time.monotonic() - started > 5 * 60:
                backoff = self.backoff_initial_seconds  # it ran well for a while: restart promptly
            log.warning("fhir_validator_restart_scheduled", in_seconds=backoff, reason=self._reason)
            self._reason += f"; restarting in {backoff:g} s"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_seconds)

    async def _run_once(self) -> None:
        assert self.package_dir is not None
        cmd = [
            *priority_prefix(self.niceness, self.scheduling),  # they exec java: same pid, every thread
            self.java,
            *self.java_options,
            "-jar",
            str(self.jar),
            "--packages",
            str(self.package_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--threads",
            str(self.threads),
            "--exit-on-stdin-eof",
            *standard_args(self.standards),
        ]
        self._stderr.clear()
        t0 = time.monotonic()
        self._proc = proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,  # the parent-death watch: EOF here ends the JVM (module docstring)
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # A process group of its own: a Ctrl-C to edigate's terminal is edigate's to handle, not the JVM's.
            # Not a session of its own: with the kernel's autogroup scheduling (on by default), a new session
            # is a new scheduling group that gets an equal share of the CPU beside edigate's, whatever its
            # niceness, so the JVM's `nice` would only rank it against itself.
            process_group=0,
        )
        self.starts += 1
        self._reason = f"the FHIR validator is starting (pid {proc.pid})"
        log.info("fhir_validator_starting", pid=proc.pid, packages=str(self.package_dir))
        assert proc.stdout is not None and proc.stderr is not None
        drain_err = asyncio.get_running_loop().create_task(self._drain_stderr(proc.stderr))
        try:
            port = await asyncio.wait_for(self._read_ready(proc.stdout), self.start_timeout_seconds)
            if port is None:
                code = await proc.wait()
                await asyncio.wait_for(drain_err, 5)
                self._reason = f"the FHIR validator exited with status {code} before it was ready" + self._tail()
                return
            self.ready_seconds = time.monotonic() - t0
            client = HttpFhirValidator(
                f"http://127.0.0.1:{port}",
                timeout_seconds=self.timeout_seconds,
                max_concurrency=self.threads,
                queue_depth=self.queue_depth,
            )
            await client.health()
            self._client = client
            log.info("fhir_validator_ready", pid=proc.pid, port=port, seconds=round(self.ready_seconds, 1))
            drain_out = asyncio.get_running_loop().create_task(self._drain(proc.stdout))
            code = await proc.wait()
            drain_out.cancel()
            self._reason = f"the FHIR validator process exited with status {code}" + self._tail()
            log.warning("fhir_validator_exited", status=code)
        except TimeoutError:
            self._reason = f"the FHIR validator was not ready within {self.start_timeout_seconds:g} s"
        finally:
            drain_err.cancel()

    async def _read_ready(self, stdout: asyncio.StreamReader) -> int | None:
        while True:
            line = await stdout.readline()
            if not line:
                return None
            match = _READY.match(line)
            if match:
                return int(match.group(1))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text[:300])

    def _tail(self) -> str:
        lines = [line for line in self._stderr if "edigate-fhir-validator" in line] or list(self._stderr)[-2:]
        return (": " + " | ".join(lines)[-400:]) if lines else ""

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is not None:
            _close_stdin(proc)
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        _close_stdin(proc)

    async def _drop_client(self, reason: str) -> None:
        client, self._client = self._client, None
        self._reason = reason
        if client is not None:
            await client.stop()


def _close_stdin(proc: asyncio.subprocess.Process) -> None:
    """Close our end of the parent-death pipe (after the JVM is gone, so the clean SIGTERM path stays the one
    that stops it)."""
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
