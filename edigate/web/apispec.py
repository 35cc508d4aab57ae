"""How one HTTP API operation is declared: method, path, who may call it, its parameters, its request body
and its answers (status -> pydantic model or media type). `edigate.web.openapi` builds the OpenAPI document
from these declarations, and the gateway's handler modules register their aiohttp routes from the same
ones (`register`), so a route cannot exist without its documentation.

The generator reads declarations through the `*Spec` protocols, so the outage procedure (`notify`, which
imports nothing of the gateway) declares its API in its own dataclasses of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

JSON = "application/json"
JsonSchema = Mapping[str, object]
#: a body of one media type: a pydantic model (its JSON Schema in components) or a JSON Schema as is
Content = type[BaseModel] | JsonSchema
#: "bearer": a token is required; "none": no token; "optional": a token changes what the caller may do
Security = Literal["bearer", "none", "optional"]


class ParamSpec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def where(self) -> Literal["path", "query"]: ...
    @property
    def schema(self) -> JsonSchema: ...
    @property
    def description(self) -> str: ...


class ReplySpec(Protocol):
    @property
    def description(self) -> str: ...
    @property
    def content(self) -> Mapping[str, Content]: ...


class OperationSpec(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def operation_id(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def tag(self) -> str: ...
    @property
    def security(self) -> Security: ...
    @property
    def parameters(self) -> Sequence[ParamSpec]: ...
    @property
    def body(self) -> Mapping[str, Content]: ...
    @property
    def responses(self) -> Mapping[int, ReplySpec]: ...


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


@dataclass(frozen=True)
class Operation:
    """One gateway operation; `path` is the OpenAPI path, `route` the aiohttp pattern (ids constrained by
    regular expressions, e.g. `{id:[0-9]{1,18}}`) when it differs."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    security: Security
    responses: Mapping[int, Reply]
    handler: Handler
    parameters: Sequence[Param] = ()
    body: Mapping[str, Content] = field(default_factory=dict)
    pattern: str | None = None

    @property
    def route(self) -> str:
        """The aiohttp resource's canonical path (what `app.router` reports)."""
        return self.path


def register(app: web.Application, operations: Sequence[Operation]) -> None:
    """Add every operation's aiohttp route (the documentation and the routing come from one table)."""
    for op in operations:
        app.router.add_route(op.method.upper(), op.pattern or op.path, op.handler)


# ---------------------------------------------------------------------------------------------- shared parts

#: a message id: the route pattern [0-9]{1,18}
ID18: JsonSchema = {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}
EAN: JsonSchema = {"type": "string", "pattern": "^[0-9]{13}$", "x-server-rules": "a GS1 check digit that fits"}


def path_param(name: str, schema: JsonSchema, description: str) -> Param:
    return Param(name, "path", schema, description)


def query_param(name: str, schema: JsonSchema, description: str) -> Param:
    return Param(name, "query", schema, description)
