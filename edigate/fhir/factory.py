"""The FhirValidator a configuration asks for: external (validator_url), supervised (package_dir) or none."""

from __future__ import annotations

from edigate.fhir.config import FhirSettings
from edigate.fhir.supervisor import SupervisedFhirValidator
from edigate.fhir.validation import DisabledFhirValidator, HttpFhirValidator

AnyFhirValidator = SupervisedFhirValidator | HttpFhirValidator | DisabledFhirValidator


def build_fhir_validator(settings: FhirSettings | None) -> AnyFhirValidator:
    """Each has `start()`/`stop()` for the service lifecycle besides the FhirValidator protocol."""
    if settings is None or not settings.configured:
        return DisabledFhirValidator("FHIR validation is not configured (no [fhir] section)")
    if not settings.enabled:
        return DisabledFhirValidator("FHIR validation is switched off ([fhir] enabled = false)")
    if settings.validator_url:
        return HttpFhirValidator(
            settings.validator_url,
            timeout_seconds=settings.timeout_seconds,
            max_concurrency=settings.threads,
            queue_depth=settings.queue_depth,
        )
    return SupervisedFhirValidator(
        package_dir=settings.package_dir,
        java=settings.java,
        jar=settings.jar,
        threads=settings.threads,
        queue_depth=settings.queue_depth,
        timeout_seconds=settings.timeout_seconds,
        start_timeout_seconds=settings.start_timeout_seconds,
        java_options=settings.java_options,
        scheduling=settings.validator_scheduling,
    )
