"""Issue 12 item 11: what edigate puts into a schema error in place of a personal value is Danish.

The schema validator's own sentence stays as libxml2/xmlschema writes it; the marker for a removed value is
edigate's word and reaches the sender's system (4xx reason, XCTL02 RefuseText).
"""

from __future__ import annotations

from edigate.medcom.explain import redact


def test_removed_values_are_marked_in_danish() -> None:
    text = redact("Element 'PersonGivenName': [facet 'maxLength'] The value 'Bruno Elmer' has a length of 11.")
    assert "Bruno" not in text and "(fjernet)" in text, text
    cpr = redact("Element 'Note': 0101709996 is not accepted.", element="Note")
    assert "9996" not in cpr and "(fjernet)" in cpr and "redacted" not in cpr, cpr
