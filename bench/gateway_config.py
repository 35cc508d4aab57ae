"""The TOML config the benchmarks give `edigate serve`: written once here, so every benchmark starts the
service the same way and a config change (a renamed key) is made in one place."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

MAILBOX = '{ kind = "mailbox" }'


@dataclass(frozen=True)
class BenchPartner:
    """One `[[partners]]` entry; `token` (clear text) lets the partner send, `delivery` is a TOML inline table."""

    ean: str
    name: str
    kind: str
    token: str | None = None
    delivery: str = MAILBOX

    def toml(self) -> str:
        lines = ["[[partners]]", f'ean = "{self.ean}"', f'name = "{self.name}"', f'kind = "{self.kind}"']
        if self.token is not None:
            lines.append(f'tokens_sha256 = ["{hashlib.sha256(self.token.encode()).hexdigest()}"]')
        lines.append(f"delivery = {self.delivery}")
        return "\n".join(lines) + "\n"


def hospital_and_municipality(token: str, *, suffix: str = "") -> list[BenchPartner]:
    """The two bench partners of the OIOXML benchmarks: the hospital sends (with `token`), the municipality
    receives; both by mailbox."""
    return [
        BenchPartner(HOSPITAL_EAN, f"Bench hospital{suffix}", "hospital", token),
        BenchPartner(MUNICIPALITY_EAN, f"Bench municipality{suffix}", "municipality"),
    ]


def service_config(
    port: int,
    storage_url: str,
    partners: Iterable[BenchPartner],
    *,
    log_level: str = "warning",
    sections: str = "",
) -> str:
    """The service's config: listen on `port`, store at `storage_url`, `sections` (TOML tables such as
    `[retention]`) before the partners."""
    head = f'[server]\nlisten = "127.0.0.1:{port}"\n[storage]\nurl = "{storage_url}"\n'
    head += f'[logging]\nlevel = "{log_level}"\n'
    body = sections.strip() + "\n" if sections.strip() else ""
    return head + body + "".join(p.toml() for p in partners)
