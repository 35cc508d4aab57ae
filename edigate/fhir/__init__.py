"""MedCom FHIR messaging: the standards, and validation by the HL7 reference validator (validator/).

`edigate.fhir.validation` is the interface (FhirValidator, FhirValidationResult, FhirIssue,
FhirValidatorUnavailable, HttpFhirValidator); `edigate.fhir.supervisor.SupervisedFhirValidator` runs the
validator JVM; `edigate.fhir.factory.build_fhir_validator` picks one from `[fhir]`.
"""
