"""Both APIs, the gateway's and the outage procedure's, are declared with one set of parts (duplicate D7):
a parameter or an answer means the same to the OpenAPI generator whichever package declared it."""

from __future__ import annotations

from edigate.web import apispec
from notify import api_doc, api_shapes


def test_gateway_and_notify_declare_parameters_and_answers_with_the_same_classes() -> None:
    for name in ("Param", "Reply"):
        assert getattr(apispec, name) is getattr(api_shapes, name)
        assert getattr(api_doc, name) is getattr(api_shapes, name)


def test_an_ean_parameter_has_one_schema() -> None:
    ean_params = [p for op in api_doc.OPERATIONS for p in op.parameters if p.name == "ean"]
    assert ean_params and all(p.schema is apispec.EAN for p in ean_params)
