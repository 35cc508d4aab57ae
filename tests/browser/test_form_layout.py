"""The form "EDI-nedbrud/nedlukning" as a newcomer meets it: the shipped example config, Debian's Chromium.

What a person checks by looking (issue 12 item 13): each label sits directly above its own box (not beside the
next one), the hint is read before the textarea rather than floating beside it, the role list offers only the
roles the form accepts from this user, and "Logget ind som …" names the organisation once, without brackets in
brackets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import chromium, log_in, log_out
from tests.harness.ports import free_port
from tests.harness.service import REPO, Service

pytestmark = pytest.mark.browser

EXAMPLE = REPO / "deploy" / "examples" / "region-syddanmark.toml"

#: Problems a person would see, collected in the page: every label[for] names a form control, every visible
#: control has a label; a box's label is right above it and left-aligned with it, and no other box sits beside
#: the label; the nearest label above a box is its own.
LAYOUT_PROBLEMS = """
() => {
  const problems = [];
  const main = document.querySelector('main');
  const controls = [...main.querySelectorAll('input, select, textarea')].filter(c => c.type !== 'hidden');
  for (const label of main.querySelectorAll('label[for]')) {
    const target = document.getElementById(label.htmlFor);
    if (!target || !['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName))
      problems.push(`label "${label.innerText}" names no form control (for=${label.htmlFor})`);
  }
  for (const c of controls)
    if (c.labels.length === 0) problems.push(`${c.name} (${c.id || c.value}) has no label`);
  const boxes = controls.filter(c => !['checkbox', 'radio'].includes(c.type));
  const rect = e => e.getBoundingClientRect();
  const beside = (a, b) => a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (const box of boxes) {
    const label = box.labels[0];
    if (!label) continue;
    const l = rect(label), b = rect(box), name = `"${label.innerText.trim()}"`;
    if (l.bottom > b.top + 1) problems.push(`${name} is not above its box #${box.id}`);
    if (b.top - l.bottom > 60) problems.push(`${name} is ${b.top - l.bottom}px above its box #${box.id}`);
    if (Math.abs(l.left - b.left) > 4) problems.push(`${name} is not left-aligned with #${box.id}`);
    for (const other of boxes)
      if (other !== box && beside(l, rect(other))) problems.push(`${name} sits beside #${other.id}`);
    const above = boxes.map(o => o.labels[0]).filter(x => x && rect(x).bottom <= b.top + 1);
    const nearest = above.sort((x, y) => rect(y).bottom - rect(x).bottom)[0];
    if (nearest !== label) problems.push(`the label nearest above #${box.id} is "${nearest && nearest.innerText}"`);
  }
  return problems;
}
"""


@pytest.fixture
def example_service(tmp_path: Path) -> Iterator[Service]:
    """`edigate serve --config deploy/examples/region-syddanmark.toml`, with its database and mail in tmp_path."""
    port = free_port()
    env = {
        "EDIGATE_SERVER__LISTEN": f"127.0.0.1:{port}",
        "EDIGATE_STORAGE__URL": f"sqlite:///{tmp_path / 'edigate.db'}",
        "EDIGATE_NOTIFY__MAIL__DIRECTORY": str(tmp_path / "mail"),
    }
    service = Service(config_path=EXAMPLE, port=port, workdir=tmp_path, env=env)
    try:
        yield service.start()
    finally:
        service.stop()


def _roles(page: Any) -> list[str]:
    return page.eval_on_selector_all("#role option", "options => options.map(o => o.textContent.trim())")


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    return deepest


def test_form_labels_hint_roles_and_who_as_a_municipal_user(example_service: Service, tmp_path: Path) -> None:
    base = example_service.base_url
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="da-DK")
        log_in(page, base, "demo-eoj-odense", "/incidents/new")
        page.screenshot(path=str(tmp_path / "form.png"), full_page=True)

        assert page.evaluate(LAYOUT_PROBLEMS) == []
        # The contact person's three boxes, each under its own label.
        for box, label in (("contact_name", "Navn"), ("contact_phone", "Telefon"), ("contact_email", "E-mail")):
            assert page.inner_text(f"label[for={box}]") == label

        cause, hint = page.locator("#cause").bounding_box(), page.locator("#cause-hint").bounding_box()
        assert hint["y"] + hint["height"] <= cause["y"] + 1, "the hint must be read before the textarea, not beside"
        assert "cause-hint" in (page.get_attribute("#cause", "aria-describedby") or "").split()

        # Odense's EOJ system owner may report only as that: no "Regional IT" to pick and then be refused.
        assert _roles(page) == ["Kommunens EOJ-systemansvarlige"]

        who = page.inner_text("header .who").replace("Log ud", "").strip()
        assert who.startswith("Logget ind som ")
        assert who.count("Odense Kommune") == 1, who
        assert _bracket_depth(who) <= 1, who

        # Submitting empty keeps the layout (errors under their boxes) and the one role.
        page.click("text=Send indberetning")
        assert page.is_visible("text=Skriv årsagen til fejlen.")
        assert page.evaluate(LAYOUT_PROBLEMS) == []
        assert _roles(page) == ["Kommunens EOJ-systemansvarlige"]
        assert page.get_attribute("#cause", "aria-describedby") == "cause-hint cause-error"

        # An admin files for anyone, in either role.
        log_out(page)
        log_in(page, base, "demo-admin-token", "/incidents/new")
        assert _roles(page) == ["Kommunens EOJ-systemansvarlige", "Regional IT"]
        assert page.evaluate(LAYOUT_PROBLEMS) == []
