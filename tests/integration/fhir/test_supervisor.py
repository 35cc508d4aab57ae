"""SupervisedFhirValidator: edigate's own validator JVM, started, killed, restarted; missing Java or
packages make it 'unavailable' with the reason, never a crash."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from edigate.fhir.config import DEFAULT_JAR
from edigate.fhir.standards import ACKNOWLEDGEMENT
from edigate.fhir.supervisor import SupervisedFhirValidator
from edigate.fhir.validation import FhirValidatorUnavailable
from tests.harness.fhir import FAST_START_JAVA_OPTIONS, FHIR_PACKAGES, example_named, fhir_skip_reason

JSON = "application/fhir+json"


async def test_java_absent_is_unavailable_with_the_reason() -> None:
    validator = SupervisedFhirValidator(package_dir=FHIR_PACKAGES, java="/nonexistent/bin/java")
    await validator.start()
    try:
        available, reason = validator.status()
        assert not available
        assert "Java not found" in reason and "/nonexistent/bin/java" in reason
        with pytest.raises(FhirValidatorUnavailable) as info:
            await validator.validate("CareCommunication", b"{}", JSON)
        assert "Java not found" in info.value.reason
    finally:
        await validator.stop()


async def test_jar_absent_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    validator = SupervisedFhirValidator(package_dir=FHIR_PACKAGES, jar=tmp_path / "missing.jar")
    await validator.start()
    try:
        available, reason = validator.status()
        if "Java not found" in reason:
            pytest.skip("Java is not installed here: the Java-absent test covers this machine")
        assert not available
        assert "missing.jar" in reason and "make validator" in reason
    finally:
        await validator.stop()


@pytest.mark.parametrize("what", ["no folder", "no package"])
async def test_packages_absent_is_unavailable_with_the_reason(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "fhir-packages"
    if what == "no package":
        folder.mkdir()
    validator = SupervisedFhirValidator(package_dir=folder, jar=DEFAULT_JAR)
    await validator.start()
    try:
        available, reason = validator.status()
        if "Java not found" in reason or "make validator" in reason:
            pytest.skip(f"cannot reach the package check on this machine: {reason}")
        assert not available
        expected = "does not exist" if what == "no folder" else "medcom.fhir.dk.carecommunication#5.0.2"
        assert expected in reason and str(folder) in reason
    finally:
        await validator.stop()


async def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.timeout(600)
async def test_killed_validator_is_unavailable_then_restarted() -> None:
    """A JVM of its own (Acknowledgement only, to start quicker): kill -9 it, edigate says unavailable and
    why, restarts it, and validation works again."""
    reason = fhir_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    example = example_named("fhir-examples/acknowledgement/Bundle-a8c041b8")
    validator = SupervisedFhirValidator(
        package_dir=FHIR_PACKAGES,
        standards=(ACKNOWLEDGEMENT,),
        backoff_initial_seconds=0.5,
        threads=1,
        java_options=FAST_START_JAVA_OPTIONS,
    )
    await validator.start()
    try:
        assert await validator.wait_ready(280), validator.status()[1]
        assert (await validator.validate("Acknowledgement", example.body, JSON)).valid
        first = validator.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: not validator.status()[0], 30, "the validator to be reported unavailable")
        why = validator.status()[1]
        assert "exited" in why or "not reachable" in why or "starting" in why, why
        with pytest.raises(FhirValidatorUnavailable):
            await validator.validate("Acknowledgement", example.body, JSON)
        assert await validator.wait_ready(280), validator.status()[1]
        assert validator.pid not in (None, first)
        assert validator.starts == 2
        assert (await validator.validate("Acknowledgement", example.body, JSON)).valid
    finally:
        await validator.stop()
    assert not validator.status()[0]
