"""The core stays pure (no HTTP, storage or notify imports) and validates safely from many threads."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from edigate.medcom import Validator
from tests.conftest import REPO
from tests.unit.medcom import samples
from tests.unit.medcom.conftest import example


def test_medcom_imports_nothing_of_http_storage_or_notify() -> None:
    code = (
        "import sys, edigate.medcom, edigate.medcom.validator, edigate.medcom.receipts\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'aiohttp', 'sqlalchemy', 'notify', 'asyncpg'}"
        " or m.startswith('edigate.store')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_concurrent_validation_from_threads(official: Validator) -> None:
    good = example("DIS91_1")
    bad = good.replace(b"<StatusCode>nytbrev<", b"<StatusCode>x<")
    inputs = [good, bad, samples.xdis20_message(), b"<a>" * 300] * 25

    def verdict(data: bytes) -> tuple[bool, str | None]:
        result = official.validate(data)
        return result.valid, result.refuse_code

    expected = [verdict(d) for d in inputs[:4]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(verdict, inputs))
    assert results == expected * 25
    assert expected == [(True, None), (False, "syntaksfejl"), (True, None), (False, "syntaksfejl")]
