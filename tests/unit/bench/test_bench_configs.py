"""The benchmarks' service configs (bench/gateway_config.py) are ones `edigate serve` accepts: a renamed
config key shows up here, not as a benchmark that dies at start."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench import bench_drain, bench_fhir_ingest, bench_ingest, bench_purge_load
from edigate.settings import Settings, parse_settings
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN


def _settings(text: str, tmp_path: Path) -> Settings:
    return parse_settings(tomllib.loads(text), base_dir=tmp_path)


def test_ingest_config_lets_the_bench_hospital_send_to_the_municipality(tmp_path: Path) -> None:
    s = _settings(bench_ingest.config(8080, tmp_path / "b.db", "info"), tmp_path)
    assert [p.ean for p in s.partners] == [HOSPITAL_EAN, MUNICIPALITY_EAN]
    assert s.partners[0].tokens_sha256 and not s.partners[1].tokens_sha256
    assert s.logging.level == "info"


def test_purge_load_config_keeps_bodies_ten_years(tmp_path: Path) -> None:
    s = _settings(bench_purge_load.config(8080, "postgresql://postgres@127.0.0.1/bench"), tmp_path)
    assert s.retention.body_days == 3650


def test_fhir_ingest_config_has_fhir_and_oioxml_senders(tmp_path: Path) -> None:
    s = _settings(bench_fhir_ingest.gateway_config(8080, tmp_path / "b.db", "http://127.0.0.1:9/"), tmp_path)
    assert len(s.partners) == 4
    assert sum(1 for p in s.partners if p.tokens_sha256) == 2


def test_drain_config_routes_each_municipality_to_its_receiver(tmp_path: Path) -> None:
    s = _settings(bench_drain.config(8080, tmp_path / "b.db", 9999, 3), tmp_path)
    assert [str(getattr(p.delivery, "url", "")) for p in s.partners[1:]] == [
        f"http://127.0.0.1:9999/m{i}" for i in range(3)
    ]
    assert s.delivery.batch_size == 200
