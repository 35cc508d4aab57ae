"""[fhir]: defaults, paths, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edigate.fhir.config import DEFAULT_JAR
from edigate.fhir.factory import build_fhir_validator
from edigate.fhir.supervisor import SupervisedFhirValidator
from edigate.fhir.validation import DisabledFhirValidator, HttpFhirValidator
from edigate.settings import ConfigError, parse_settings


def test_absent_section_is_not_configured() -> None:
    settings = parse_settings({})
    assert settings.fhir.configured is False
    validator = build_fhir_validator(settings.fhir)
    assert isinstance(validator, DisabledFhirValidator)
    assert validator.status() == (False, "FHIR validation is not configured (no [fhir] section)")


def test_values_and_relative_package_dir(tmp_path: Path) -> None:
    raw = {"fhir": {"package_dir": "pkgs", "threads": 3, "timeout_seconds": 5, "java_options": ["-Xmx1g"]}}
    fhir = parse_settings(raw, base_dir=tmp_path).fhir
    assert fhir.package_dir == (tmp_path / "pkgs").resolve()
    assert (fhir.threads, fhir.timeout_seconds, fhir.java_options, fhir.jar) == (3, 5.0, ("-Xmx1g",), DEFAULT_JAR)
    validator = build_fhir_validator(fhir)
    assert isinstance(validator, SupervisedFhirValidator)
    assert validator.threads == 3 and validator.java_options == ("-Xmx1g",)


def test_external_url_wins() -> None:
    fhir = parse_settings({"fhir": {"validator_url": "http://127.0.0.1:8711/", "package_dir": "/x"}}).fhir
    validator = build_fhir_validator(fhir)
    assert isinstance(validator, HttpFhirValidator)
    assert validator.url == "http://127.0.0.1:8711"


def test_the_validator_queue_is_bounded_as_configured() -> None:
    """At most `threads` requests at the validator and `queue_depth` waiting (default 8), supervised or not."""
    external = build_fhir_validator(
        parse_settings({"fhir": {"validator_url": "http://127.0.0.1:8711", "threads": 3, "queue_depth": 5}}).fhir
    )
    assert isinstance(external, HttpFhirValidator)
    assert (external.max_concurrency, external.queue_depth) == (3, 5)
    supervised = build_fhir_validator(parse_settings({"fhir": {"package_dir": "/x"}}).fhir)
    assert isinstance(supervised, SupervisedFhirValidator)
    assert (supervised.threads, supervised.queue_depth) == (2, 8)


def test_the_validator_scheduling_policy_is_normal_unless_configured() -> None:
    """SCHED_OTHER by default (docs/fhir.md, CPU priority: batch measured no better); idle or batch on request."""
    default = build_fhir_validator(parse_settings({"fhir": {"package_dir": "/x"}}).fhir)
    assert isinstance(default, SupervisedFhirValidator) and default.scheduling == "normal"
    idle = build_fhir_validator(parse_settings({"fhir": {"package_dir": "/x", "validator_scheduling": "idle"}}).fhir)
    assert isinstance(idle, SupervisedFhirValidator) and idle.scheduling == "idle"


@pytest.mark.parametrize(
    ("fhir", "message"),
    [
        ("yes", "fhir: must be a table"),
        ({"enabled": "yes"}, "fhir.enabled: must be true or false"),
        ({"threads": 0}, "fhir.threads: must be at least 1"),
        ({"threads": 65}, "fhir.threads: must be at most 64"),
        ({"threads": True}, "fhir.threads: must be an integer"),
        ({"queue_depth": -1}, "fhir.queue_depth: must be at least 0"),
        ({"queue_depth": 1.5}, "fhir.queue_depth: must be an integer"),
        ({"timeout_seconds": 0}, "fhir.timeout_seconds: must be at least 0.1"),
        ({"timeout_seconds": "30"}, "fhir.timeout_seconds: must be a number"),
        ({"validator_url": "localhost:8711"}, "fhir.validator_url: must be an http:// or https:// URL"),
        ({"package_dir": ""}, "fhir.package_dir: must be a non-empty string"),
        ({"java": 17}, "fhir.java: must be a string"),
        ({"java": " "}, "fhir.java: must be a non-empty string"),
        ({"java_options": "-Xmx1g"}, "fhir.java_options: must be a list of strings"),
        ({"validator_scheduling": "fifo"}, "fhir.validator_scheduling: must be 'batch', 'idle' or 'normal'"),
        ({"tx_server": "http://tx.fhir.org"}, "fhir.tx_server: unknown key"),
    ],
)
def test_errors_name_the_key(fhir: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"fhir": fhir})
    assert str(info.value).startswith(message)
