"""Configuration: TOML + environment -> typed settings; errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edigate.settings import ConfigError, load_settings, parse_settings

REPO = Path(__file__).resolve().parents[3]
PARTNER = {"ean": "5790000198764", "name": "Testkommune", "kind": "municipality", "cluster": "Fyn"}


def test_defaults_and_partner_shapes() -> None:
    s = parse_settings(
        {
            "partners": [
                PARTNER,
                {
                    **PARTNER,
                    "ean": "5790000198771",
                    "cluster": ["Lillebælt", "Sydvestjylland"],
                    "delivery": {"kind": "http", "url": "http://x/inbox"},
                    "accepts": ["XDIS91", "XD2030C"],
                },
            ]
        }
    )
    assert s.server.port == 8080 and s.server.max_body_bytes == 5 * 1024 * 1024
    assert s.delivery.ack_timeout_minutes == 30 and s.delivery.ack_alert_minutes == 90
    assert s.partners[0].delivery.kind == "mailbox" and s.partners[0].clusters == ("Fyn",)
    assert s.partners[1].clusters == ("Lillebælt", "Sydvestjylland")
    assert s.partners[1].accepts == ("XDIS91", "XD2030C")
    assert s.notify is None and s.health.thresholds().down_unreachable.total_seconds() == 600


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nlisten = "127.0.0.1:1"\n', encoding="utf-8")
    s = load_settings(
        cfg,
        environ={
            "EDIGATE_SERVER__LISTEN": "0.0.0.0:9090",
            "EDIGATE_STORAGE__URL": "postgresql://u@h/db",
            "EDIGATE_DELIVERY__MAX_ATTEMPTS": "7",
            "EDIGATE_HEALTH__RECEIPT_WINDOW_MINUTES": "5",
            "EDIGATE_NOTIFY__MAIL__PORT": "2525",
        },
    )
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9090)
    assert s.storage.url == "postgresql://u@h/db" and s.delivery.max_attempts == 7
    assert s.health.receipt_window_minutes == 5 and s.notify is not None and s.notify.mail.port == 2525


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"partners": [PARTNER, {**PARTNER, "ean": "123"}]}, "partners[1].ean: not a valid EAN/GLN"),
        ({"partners": [{**PARTNER, "tokens_sha256": ["xyz"]}]}, "partners[0].tokens_sha256[0]"),
        ({"partners": [{**PARTNER, "delivery": {"kind": "ftp"}}]}, "partners[0].delivery.kind"),
        ({"partners": [{**PARTNER, "colour": "red"}]}, "partners[0].colour: unknown key"),
        ({"server": {"max_body_bytes": True}}, "server.max_body_bytes: must be an integer"),
        ({"delivery": {"ack_alert_minutes": 10}}, "delivery.ack_alert_minutes"),
        ({"bogus": {}}, "bogus: unknown section"),
        ({"partners": {"ean": "1"}}, "partners: must be an array of tables"),
    ],
)
def test_errors_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_settings(raw)
    assert str(exc.value).startswith(message.split(":")[0])
    assert message in str(exc.value)


def test_shipped_example_parses() -> None:
    s = load_settings(REPO / "deploy/examples/region-syddanmark.toml", environ={})
    kinds = [p.kind for p in s.partners]
    assert kinds.count("municipality") == 22 and kinds.count("hospital") == 5
    vejen = next(p for p in s.partners if p.name.startswith("Vejen"))
    assert set(vejen.clusters) == {"Lillebælt", "Sydvestjylland"}
    assert all("FIKTIV" in p.name for p in s.partners)
    assert s.storage.url == "sqlite:///var/edigate.db"
