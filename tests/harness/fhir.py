"""The FHIR validator shared by the whole test session, and the MedCom FHIR examples.

One JVM (validator/target/edigate-fhir-validator.jar) serves every test: it takes 30-90 s to load the
packages and warm up, so it is started once, in the background as soon as the collected tests need it
(`start_in_background`), and tests get its URL (for HttpFhirValidator, or `[fhir] validator_url` of a
service under test). Without Java, the jar or ../shared/medcom/fhir-packages the tests skip with the reason.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edigate.fhir.config import DEFAULT_JAR
from edigate.fhir.standards import BY_EVENT_CODE, STANDARDS
from edigate.fhir.supervisor import standard_args

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
FHIR_PACKAGES = SHARED / "medcom" / "fhir-packages"
FHIR_EXAMPLES = SHARED / "medcom" / "fhir-examples"
START_TIMEOUT = 280.0  # under the per-test timeout (300 s), so a slow start fails with this reason
#: JVM options for the validators the tests start: the client JIT only and the serial collector. A start
#: (loading the packages) then needs about half the CPU time (Acknowledgement only: 22 -> 11 CPU-s), which
#: on two cores is CPU the tests running beside it get back; validation answers are the same.
FAST_START_JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def fhir_skip_reason() -> str | None:
    """Why FHIR validation tests cannot run on this machine, or None."""
    if not FHIR_PACKAGES.is_dir():
        return f"MedCom FHIR packages not found at {FHIR_PACKAGES}; these tests need ../shared/medcom/fhir-packages"
    if shutil.which("java") is None:
        return "Java not found on PATH; the FHIR validator needs a Java 17 runtime"
    if not DEFAULT_JAR.is_file():
        return f"the FHIR validator jar {DEFAULT_JAR} is not built: run `make validator` (make test builds it)"
    return None


class SharedValidator:
    """The session's validator process: started at most once, stopped at the end of the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.error: str | None = None
        self.log_path = REPO / "var" / "test-fhir-validator.log"
        self.ready_seconds: float | None = None

    def start_in_background(self) -> None:
        if os.environ.get("EDIGATE_TEST_FHIR_VALIDATOR_URL"):
            return
        with self._lock:
            if self._thread is not None or fhir_skip_reason() is not None:
                return
            self._thread = threading.Thread(target=self._run, name="fhir-validator-start", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        t0 = time.monotonic()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child's stderr for its lifetime
        cmd = ["java", "-jar", str(DEFAULT_JAR), "--packages", str(FHIR_PACKAGES), "--port", "0"]
        cmd += ["--threads", "2", "--exit-on-stdin-eof", *standard_args(STANDARDS)]
        try:
            # niced: it warms up while other tests run, and must not slow their timing-sensitive parts;
            # stdin a pipe only this process holds: a pytest that is killed takes the JVM with it
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.PIPE, preexec_fn=lambda: os.nice(10)
            )
        except OSError as exc:
            self.error = f"cannot start the FHIR validator: {exc}"
            self._ready.set()
            return
        finally:
            log.close()
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(b"READY port="):
                self.port = int(line.split()[1].split(b"=")[1])
                self.ready_seconds = time.monotonic() - t0
                break
        else:
            self.error = f"the FHIR validator exited ({self.proc.wait()}) before READY; see {self.log_path}"
        self._ready.set()
        if self.port is not None:  # keep the pipe drained
            for _ in self.proc.stdout:
                pass

    def url(self) -> str:
        """The base URL, waiting for the start; raises RuntimeError when the validator failed to start.
        $EDIGATE_TEST_FHIR_VALIDATOR_URL names an already running one instead (quicker while developing)."""
        external = os.environ.get("EDIGATE_TEST_FHIR_VALIDATOR_URL")
        if external:
            return external.rstrip("/")
        self.start_in_background()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the FHIR validator was not ready within {START_TIMEOUT:g} s; see {self.log_path}")
        if self.error is not None:
            raise RuntimeError(self.error)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()


SHARED_VALIDATOR = SharedValidator()


# ------------------------------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class FhirExample:
    """One example Bundle: where it comes from, its bytes and the standard its eventCoding names."""

    source: str  # "fhir-examples/carecommunication/Bundle-….json" or "medcom.fhir.dk.…-5.0.2.tgz:Bundle-….json"
    body: bytes

    @property
    def bundle(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def event_code(self) -> str:
        return str(self.bundle["entry"][0]["resource"]["eventCoding"]["code"])

    @property
    def standard(self) -> str | None:
        s = BY_EVENT_CODE.get(self.event_code)
        return s.name if s else None


def fhir_examples() -> list[FhirExample]:
    """Every example Bundle in ../shared/medcom/fhir-examples and in the standards' packages (package/example)."""
    out: list[FhirExample] = []
    if FHIR_EXAMPLES.is_dir():
        for path in sorted(FHIR_EXAMPLES.glob("*/Bundle-*.json")):
            out.append(FhirExample(f"fhir-examples/{path.parent.name}/{path.name}", path.read_bytes()))
    if FHIR_PACKAGES.is_dir():
        for standard in STANDARDS:
            tgz = FHIR_PACKAGES / standard.package.filename
            if not tgz.is_file():
                continue
            with tarfile.open(tgz, "r:gz") as tar:
                for member in sorted(tar.getmembers(), key=lambda m: m.name):
                    name = member.name.removeprefix("./")
                    if name.startswith("package/example/Bundle-") and name.endswith(".json") and member.isfile():
                        data = tar.extractfile(member)
                        assert data is not None
                        out.append(FhirExample(f"{tgz.name}:{Path(name).name}", io.BytesIO(data.read()).read()))
    return out


def example_named(fragment: str) -> FhirExample:
    """The first example whose source contains `fragment`."""
    for example in fhir_examples():
        if fragment in example.source:
            return example
    raise LookupError(f"no FHIR example matching {fragment!r}")
