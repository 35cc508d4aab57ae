"""How one HTTP API operation is declared: method, path, who may call it, its parameters, its request body
and its answers (status -> pydantic model or media type). `edigate.web.openapi` builds the OpenAPI document
from these declarations, and the gateway's handler modules register their aiohttp routes from the same
ones (`register`), so a route cannot exist without its documentation.

The generator reads operations through the `OperationSpec` protocol, so the outage procedure (`notify`,
which imports nothing of the gateway) declares its operations in its own dataclass of the same shape; the
parameters and answers of both are the one pure leaf `notify.api_shapes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from notify.api_shapes import (
    EAN,
    JSON,
    Content,
    JsonSchema,
    Param,
    Reply,
    Security,
    path_param,
    query_param,
    reply,
)

__all__ = [
    "EAN",
    "ID18",
    "JSON",
    "Content",
    "JsonSchema",
    "Operation",
    "OperationSpec",
    "Param",
    "Reply",
    "Security",
    "path_param",
    "query_param",
    "register",
    "reply",
]


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
    def parameters(self) -> Sequence[Param]: ...
    @property
    def body(self) -> Mapping[str, Content]: ...
    @property
    def responses(self) -> Mapping[int, Reply]: ...


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
