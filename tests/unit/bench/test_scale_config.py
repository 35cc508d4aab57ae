"""The scale and soak benchmarks' service config is one `edigate serve` accepts (issue 14)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.bench_scale import service_config
from edigate.settings import parse_settings
from tests.unit.gateway.envelopes import HOSPITAL
from tests.unit.medcom.samples import MUNICIPALITY_EAN


def test_scale_config_has_an_admin_the_fills_hospital_and_keeps_bodies(tmp_path: Path) -> None:
    s = parse_settings(tomllib.loads(service_config(8080, "sqlite:///x.db")), base_dir=tmp_path)
    assert s.retention.body_days == 3650
    assert len(s.admins) == 1 and s.admins[0].tokens_sha256
    assert next(p for p in s.partners if p.ean == HOSPITAL).tokens_sha256
    assert next(p for p in s.partners if p.ean == MUNICIPALITY_EAN).delivery.kind == "mailbox"


def test_soak_config_delivers_to_the_receiver(tmp_path: Path) -> None:
    text = service_config(8080, "sqlite:///x.db", "http://127.0.0.1:9/inbox")
    s = parse_settings(tomllib.loads(text), base_dir=tmp_path)
    municipality = next(p for p in s.partners if p.ean == MUNICIPALITY_EAN)
    assert (municipality.delivery.kind, municipality.delivery.url) == ("http", "http://127.0.0.1:9/inbox")
