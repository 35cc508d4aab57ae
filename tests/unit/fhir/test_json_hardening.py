"""The hardened FHIR JSON intake (edigate.fhir.reading.load_json): every hostile case it refuses, with the
reason a sender reads, and the C-speed nesting check against a plain recursive walk of the parsed JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edigate.fhir.reading import MAX_DEPTH, FhirUnreadable, _too_deep, load_json


def nested(depth: int, kind: str = "[") -> str:
    """A JSON value whose objects/arrays nest `depth` deep (the outermost is 1)."""
    if kind == "[":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def in_bundle(value: str) -> bytes:
    return ('{"resourceType": "Bundle", "x": ' + value + "}").encode()


def refused(body: bytes) -> str:
    with pytest.raises(FhirUnreadable) as exc:
        load_json(body)
    return str(exc.value)


@pytest.mark.parametrize(
    "body, key",
    [
        (b'{"resourceType": "Bundle", "id": "a", "id": "b"}', "'id'"),
        (b'{"resourceType": "Bundle", "entry": [{"resource": {"id": "a", "x": 1, "id": "b"}}]}', "'id'"),
        (b'{"resourceType": "Bundle", "meta": {"profile": [], "source": "s", "profile": []}}', "'profile'"),
        # the same key written once plainly and once escaped is the same key
        (b'{"resourceType": "Bundle", "a": 1, "\\u0061": 2}', "'a'"),
        # the first key that repeats is named, not the last
        (b'{"resourceType": "Bundle", "b": 1, "c": 1, "c": 2, "b": 2}', "'c'"),
    ],
)
def test_a_repeated_key_is_refused_and_named(body: bytes, key: str) -> None:
    text = refused(body)
    assert "forekommer flere gange" in text and key in text


def test_the_same_key_in_two_objects_is_no_repetition() -> None:
    doc = load_json(b'{"resourceType": "Bundle", "a": {"id": 1}, "b": {"id": 2}, "c": [{"id": 3}, {"id": 4}]}')
    assert doc["c"][1]["id"] == 4


@pytest.mark.parametrize("kind", ["[", "{"])
def test_nesting_up_to_the_limit_is_read_and_one_deeper_is_refused(kind: str) -> None:
    # the Bundle itself is level 1
    load_json(in_bundle(nested(MAX_DEPTH - 1, kind)))
    assert f"dybere end {MAX_DEPTH}" in refused(in_bundle(nested(MAX_DEPTH, kind)))


def test_depth_counts_objects_and_arrays_alike_and_in_any_branch() -> None:
    mixed = '{"a": [' * 32 + "1" + "]}" * 32  # 64 levels, objects and arrays alternating
    assert f"dybere end {MAX_DEPTH}" in refused(in_bundle(mixed))  # 1 + 64
    load_json(in_bundle('{"a": [' * 31 + '{"a": 1}' + "]}" * 31))  # 1 + 63
    deep_late = '[1, 2, {"b": ' + nested(MAX_DEPTH - 2) + "}, [[]]]"  # 1 + 1 + 1 + 62 = 65, in a late branch
    assert f"dybere end {MAX_DEPTH}" in refused(in_bundle(deep_late))


def test_brackets_inside_strings_are_text_not_nesting() -> None:
    text = json.dumps("[" * 500 + '{"\\' + "}" * 500)
    doc = load_json(in_bundle(text))
    assert doc["x"].startswith("[[[")


def test_nesting_far_beyond_the_limit_is_refused_the_same_way() -> None:
    assert f"dybere end {MAX_DEPTH}" in refused(in_bundle(nested(5000)))


@pytest.mark.parametrize(
    "body, says",
    [
        (in_bundle("9" * 33), "33 cifre"),
        (in_bundle("-" + "1" * 20 + "." + "1" * 20), "cifre"),
        (in_bundle("1e" + "0" * 40), "cifre"),
        (in_bundle("NaN"), "NaN er ikke en JSON-værdi"),
        (in_bundle("Infinity"), "Infinity er ikke en JSON-værdi"),
        (in_bundle("-Infinity"), "-Infinity er ikke en JSON-værdi"),
        (b'{"resourceType": "Bundle", "x": "\xff"}', "UTF-8"),
        (b'{"resourceType": "Bundle", "x": 1', "ikke velformet JSON"),
        (b'[{"resourceType": "Bundle"}]', "JSON-objekt"),
        (nested(200).encode(), "JSON-objekt"),  # a deep array at the root: not an object, said first as before
    ],
)
def test_hostile_json_is_refused_with_its_reason(body: bytes, says: str) -> None:
    assert says in refused(body)


def test_numbers_and_a_byte_order_mark_read_as_before() -> None:
    doc = load_json(b'\xef\xbb\xbf{"resourceType": "Bundle", "total": 12, "d": 1.50, "e": 1e3, "n": -0}')
    assert (doc["total"], doc["d"], doc["e"], doc["n"]) == (12, 1.5, 1000.0, 0)
    assert type(doc["total"]) is int and type(doc["e"]) is float


# ------------------------------------------------------------------------------------------ nesting check


def reference_depth(value: Any) -> int:
    """The nesting depth by a plain recursive walk: 0 for a scalar, 1 for a flat object or array."""
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=4)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3), containers, max_leaves=60)


@settings(max_examples=300, deadline=None)
@given(containers(json_values))  # load_json checks an object (the Bundle); any container nests the same way
def test_the_nesting_check_agrees_with_a_recursive_walk(value: Any) -> None:
    depth = reference_depth(value)
    for limit in {0, 1, max(0, depth - 1), depth, depth + 1}:
        assert _too_deep(value, limit) == (depth > limit), (depth, limit)
