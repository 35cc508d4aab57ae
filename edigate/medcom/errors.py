"""Exceptions of the MedCom core. Messages never carry message content (CPR, names), only positions."""

from __future__ import annotations


class MedcomError(Exception):
    """Base class for every error raised by edigate.medcom."""


class XmlRefused(MedcomError):
    """The bytes are not acceptable XML (hostile, not well-formed, wrong encoding, too big or too deep).

    Always answered with RefuseCode `syntaksfejl`."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"{message} (line {line})")
        self.message = message
        self.line = line


class SchemaUnavailable(MedcomError):
    """A schema entry file is missing or does not compile: an operator problem, not the sender's fault."""
