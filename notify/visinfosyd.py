"""sundhed.dk via VisInfoSyd: "Endvidere vil der i givne tilfælde foretages opslag på sundhed.dk via
VisInfoSyd." Whether a case is one of "de givne tilfælde" is the desk's judgement, so it is a flag the desk sets
on an incident. The flag is a task for a person (edigate cannot post there): the desk's pages show it with the
text to post, and the person marks it done. Setting, withdrawing and finishing it are audited on the incident.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from notify.incidents import Actor, InvalidTransition, is_desk
from notify.model import AuditEntry, Incident


@dataclass(frozen=True)
class PortalTask:
    """One incident's sundhed.dk post: asked for by the desk, done when a person has posted it."""

    incident_id: int
    requested_at: datetime
    requested_by: str
    done_at: datetime | None = None
    done_by: str | None = None

    @property
    def done(self) -> bool:
        return self.done_at is not None


class PortalTasks(Protocol):
    """Storage of the tasks; each change is stored together with its audit entry, or not at all."""

    async def get(self, incident_id: int) -> PortalTask | None: ...

    async def list(self, *, open_only: bool = False, limit: int = 200) -> list[PortalTask]: ...

    async def request(self, task: PortalTask, audit: AuditEntry) -> PortalTask: ...

    async def mark_done(self, incident_id: int, at: datetime, by: str, audit: AuditEntry) -> PortalTask: ...

    async def withdraw(self, incident_id: int, audit: AuditEntry) -> None: ...


class MemoryPortalTasks:
    """In-process `PortalTasks` for a service without a database (unit tests)."""

    def __init__(self) -> None:
        self.tasks: dict[int, PortalTask] = {}
        self.audit: list[AuditEntry] = []

    async def get(self, incident_id: int) -> PortalTask | None:
        return self.tasks.get(incident_id)

    async def list(self, *, open_only: bool = False, limit: int = 200) -> list[PortalTask]:
        tasks = sorted(self.tasks.values(), key=lambda t: (t.done, t.requested_at))
        return [t for t in tasks if not (open_only and t.done)][:limit]

    async def request(self, task: PortalTask, audit: AuditEntry) -> PortalTask:
        self.tasks[task.incident_id] = task
        self.audit.append(audit)
        return task

    async def mark_done(self, incident_id: int, at: datetime, by: str, audit: AuditEntry) -> PortalTask:
        task = replace(self.tasks[incident_id], done_at=at, done_by=by)
        self.tasks[incident_id] = task
        self.audit.append(audit)
        return task

    async def withdraw(self, incident_id: int, audit: AuditEntry) -> None:
        self.tasks.pop(incident_id, None)
        self.audit.append(audit)


ACTIONS = ("request", "done", "withdraw")


def check_action(actor: Actor, incident: Incident, task: PortalTask | None, action: str) -> None:
    """Raise PermissionError or InvalidTransition (Danish) unless `actor` may do `action` now."""
    if not is_desk(actor):
        raise PermissionError("Kun EDI-support, vagten og Regional IT kan bestille opslag på sundhed.dk.")
    if action == "request":
        if not incident.confirmed:
            raise InvalidTransition("En kladde er intern: bekræft hændelsen, før den slås op på sundhed.dk.")
        if incident.state == "closed":
            raise InvalidTransition("Hændelsen blev lukket før bekræftelse og slås ikke op.")
        if task is not None:
            raise InvalidTransition("Opslaget på sundhed.dk er allerede bestilt.")
    elif action == "done":
        if task is None:
            raise InvalidTransition("Der er ikke bestilt et opslag på sundhed.dk for hændelsen.")
        if task.done:
            raise InvalidTransition("Opslaget på sundhed.dk er allerede markeret som udført.")
    elif action == "withdraw":
        if task is None:
            raise InvalidTransition("Der er ikke bestilt et opslag på sundhed.dk for hændelsen.")
        if task.done:
            raise InvalidTransition("Opslaget er allerede lagt på sundhed.dk; fjern det dér.")
    else:
        raise InvalidTransition("Ukendt handling for opslag på sundhed.dk.")


AUDIT_ACTION = {
    "request": "sundhed.dk bestilt",
    "done": "sundhed.dk udført",
    "withdraw": "sundhed.dk fravalgt",
}
AUDIT_DETAIL = {
    "request": "Opslag på sundhed.dk via VisInfoSyd bestilt",
    "done": "Opslaget er lagt på sundhed.dk via VisInfoSyd",
    "withdraw": "Opslag på sundhed.dk er fravalgt igen",
}


async def apply(tasks: PortalTasks, actor: Actor, incident: Incident, action: str, now: datetime) -> None:
    """Check and store one desk action on the incident's sundhed.dk task, with its audit entry."""
    task = await tasks.get(incident.id)
    check_action(actor, incident, task, action)
    audit = AuditEntry(now, actor.name, AUDIT_ACTION[action], AUDIT_DETAIL[action], incident_id=incident.id)
    if action == "request":
        await tasks.request(PortalTask(incident.id, now, actor.name), audit)
    elif action == "done":
        await tasks.mark_done(incident.id, now, actor.name, audit)
    else:
        await tasks.withdraw(incident.id, audit)
