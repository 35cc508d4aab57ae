"""The parts an HTTP API operation is declared from, shared by the gateway's API (`edigate.web.apispec`) and
the outage procedure's (`notify.api_doc`): a parameter, an answer, the JSON Schema fragments both use.

A pure leaf (it imports no module of the project), so the gateway may use it without importing notify's
internals, and notify keeps importing nothing of the gateway (tests/unit/architecture/test_import_rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

JSON = "application/json"
JsonSchema = Mapping[str, object]
#: a body of one media type: a pydantic model (its JSON Schema in components) or a JSON Schema as is
Content = type[BaseModel] | JsonSchema
#: "bearer": a token is required; "none": no token; "optional": a token changes what the caller may do
Security = Literal["bearer", "none", "optional"]

#: an EAN/GLN location number as the APIs take it; the check digit is the server's rule
EAN: JsonSchema = {"type": "string", "pattern": "^[0-9]{13}$", "x-server-rules": "a GS1 check digit that fits"}


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query"]
    schema: JsonSchema
    description: str


@dataclass(frozen=True)
class Reply:
    description: str
    content: Mapping[str, Content] = field(default_factory=dict)


def reply(description: str, model: Content | None = None, media_type: str = JSON) -> Reply:
    """An answer with one body (a model, or a JSON Schema for another media type), or none."""
    return Reply(description, {} if model is None else {media_type: model})


def path_param(name: str, schema: JsonSchema, description: str) -> Param:
    return Param(name, "path", schema, description)


def query_param(name: str, schema: JsonSchema, description: str) -> Param:
    return Param(name, "query", schema, description)
