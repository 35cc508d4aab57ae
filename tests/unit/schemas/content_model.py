"""A normal form of an element's content model, for comparing two schemas that are organised differently.

The shipped schemas use other type names, local instead of global declarations and their own groups; what
must match the official schemas is the language they accept. This module reduces an xmlschema element to
names, order, cardinalities and the effective value space of each simple type (intersected enumerations,
patterns, lengths, bounds), flattening groups that do not change the language (a sequence in a sequence, a
choice in a choice, a group of one particle).
"""

from __future__ import annotations

import re
from typing import Any

from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup

Normal = tuple[Any, ...]
_MAX_DEPTH = 14


def _effective_facets(simple_type: Any) -> Normal:
    enums: list[set[str]] = []
    patterns: list[tuple[str, ...]] = []
    lower: dict[str, Any] = {}
    upper: dict[str, Any] = {}
    node = simple_type
    while node is not None and hasattr(node, "facets"):
        for key, facet in (node.facets or {}).items():
            if key is None:
                continue
            name = key.split("}")[-1]
            if name == "enumeration":
                enums.append(set(facet.enumeration))
            elif name == "pattern":
                patterns.append(tuple(sorted(facet.regexps)))
            elif name in ("minLength", "length", "minInclusive", "minExclusive"):
                lower[name] = max(lower.get(name, facet.value), facet.value)
            elif name in ("maxLength", "maxInclusive", "maxExclusive"):
                upper[name] = min(upper.get(name, facet.value), facet.value)
        node = getattr(node, "base_type", None)
    primitive = getattr(simple_type, "primitive_type", None)
    result: dict[str, Any] = {"primitive": getattr(primitive, "local_name", str(simple_type))}
    if lower.get("minLength") == 0:
        del lower["minLength"]
    result.update(lower)
    result.update(upper)
    if enums:
        allowed = set.intersection(*enums)
        # a pattern on an enumerated base only narrows the enumeration
        allowed = {v for v in allowed if all(any(re.fullmatch(p, v) for p in grp) for grp in patterns)}
        result["enumeration"] = tuple(sorted(allowed))
    elif patterns:
        result["pattern"] = tuple(sorted(patterns))
    return tuple(sorted(result.items()))


def _group(group: XsdGroup, depth: int) -> Normal:
    items: list[Normal] = []
    for particle in group:
        if isinstance(particle, XsdGroup):
            inner = _group(particle, depth)
            once = particle.min_occurs == 1 and particle.max_occurs == 1
            if once and particle.model == group.model:
                items.extend(inner[3])
            elif once and len(inner[3]) == 1:
                items.append(inner[3][0])
            else:
                items.append(inner)
        elif isinstance(particle, XsdAnyElement):
            items.append(
                (
                    "any",
                    particle.namespace,
                    particle.process_contents,
                    particle.min_occurs,
                    particle.max_occurs,
                )
            )
        else:
            items.append(element(particle, depth))
    return ("group", group.model, (group.min_occurs, group.max_occurs), items)


def _type(xsd_type: Any, depth: int) -> Normal:
    if depth > _MAX_DEPTH:
        return ("...",)
    if xsd_type.is_simple():
        return ("simple", _effective_facets(xsd_type))
    if xsd_type.name and xsd_type.name.endswith("}anyType"):
        return ("anyType",)
    mixed = "mixed" if xsd_type.mixed else ""
    if xsd_type.has_simple_content():
        return ("complex", mixed, ("simple", _effective_facets(xsd_type.content)))
    if isinstance(xsd_type.content, XsdGroup):
        return ("complex", mixed, _group(xsd_type.content, depth + 1))
    return ("complex", mixed)


def element(xsd_element: XsdElement, depth: int = 0) -> Normal:
    """Normal form of one element declaration (name, cardinality, type)."""
    return (
        "element",
        xsd_element.name,
        xsd_element.min_occurs,
        xsd_element.max_occurs,
        _type(xsd_element.type, depth),
    )


def first_difference(official: Any, ours: Any, path: str = "") -> str | None:
    """Where two normal forms first differ, as a readable path; None when they are equal."""
    if official == ours:
        return None
    if isinstance(official, (tuple, list)) and isinstance(ours, (tuple, list)) and len(official) == len(ours):
        label = official[1].split("}")[-1] if official and official[0] == "element" else ""
        for a, b in zip(official, ours, strict=True):
            found = first_difference(a, b, f"{path}/{label}" if label else path)
            if found:
                return found
    return f"{path or '/'}: official {str(official)[:300]} != ours {str(ours)[:300]}"
