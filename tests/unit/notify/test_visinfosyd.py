"""The rules of the desk's sundhed.dk task (`notify.visinfosyd.check_action`), on plain values."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from notify.incidents import Actor, InvalidTransition
from notify.visinfosyd import PortalTask, check_action
from tests.unit.notify.test_notify_world import incident as make_incident

NOW = datetime.fromisoformat("2026-11-23T10:00:00+01:00")
DESK = Actor("EDI-support", True)
REGIONAL_IT = Actor("Regional IT", False, "5799999000003", "regional-it")
REPORTER = Actor("EOJ Odense", False, "5799999000201", "eoj")


def test_only_the_desk_may_order_a_post() -> None:
    open_incident = make_incident()
    check_action(DESK, open_incident, None, "request")
    check_action(REGIONAL_IT, open_incident, None, "request")
    with pytest.raises(PermissionError):
        check_action(REPORTER, open_incident, None, "request")


def test_a_draft_or_a_closed_draft_is_never_posted() -> None:
    for state in ("draft", "closed"):
        with pytest.raises(InvalidTransition):
            check_action(DESK, replace(make_incident(), state=state), None, "request")


def test_done_and_withdraw_need_an_open_order() -> None:
    i = make_incident()
    ordered = PortalTask(i.id, NOW, "EDI-support")
    done = replace(ordered, done_at=NOW, done_by="EDI-support")
    check_action(DESK, i, ordered, "done")
    check_action(DESK, i, ordered, "withdraw")
    for task, action in ((None, "done"), (None, "withdraw"), (done, "done"), (done, "withdraw"), (ordered, "request")):
        with pytest.raises(InvalidTransition):
            check_action(DESK, i, task, action)
