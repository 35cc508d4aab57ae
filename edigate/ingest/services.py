"""What the ingest stages need from the rest of the gateway, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edigate.clock import Clock
from edigate.ingest.adapter import FormatAdapter
from edigate.ingest.convert import Converter, no_conversion
from edigate.routing import PartnerDirectory
from edigate.store.messages import MessageStore

ReceivedObserver = Callable[[str | None, str | None, str | None, str], None]


@dataclass(frozen=True)
class IngestServices:
    directory: PartnerDirectory
    store: MessageStore
    clock: Clock
    adapters: Sequence[FormatAdapter]  # OIOXML first: the format of an XML body that is not a FHIR Bundle
    max_body_bytes: int
    wake: Callable[[tuple[str, ...]], None]  # the delivery worker: these receivers' queues got work
    observe_received: ReceivedObserver  # metrics: (standard, sender, receiver, outcome)
    convert: Converter = field(default=no_conversion)

    def adapter(self, name: str) -> FormatAdapter | None:
        return next((a for a in self.adapters if a.name == name), None)

    def content_types(self) -> tuple[str, ...]:
        return tuple(t for a in self.adapters for t in a.content_types())
