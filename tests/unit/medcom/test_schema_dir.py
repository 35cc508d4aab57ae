"""Where the project's own schemas are found: the checkout's `schemas/medcom`, else a wheel install's
`<prefix>/share/edigate/schemas/medcom`, else the checkout path (so the error names it)."""

from __future__ import annotations

from pathlib import Path

from edigate.medcom.schemas import shipped_schema_dir


def _schemas_at(root: Path) -> Path:
    entry = root / "2005" / "08" / "07" / "EMessage.xsd"
    entry.parent.mkdir(parents=True)
    entry.write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>")
    return root


def test_checkout_schemas_win(tmp_path: Path) -> None:
    checkout = _schemas_at(tmp_path / "repo" / "schemas" / "medcom")
    installed = _schemas_at(tmp_path / "prefix" / "share" / "edigate" / "schemas" / "medcom")
    assert shipped_schema_dir(tmp_path / "repo" / "edigate", tmp_path / "prefix") == checkout
    assert installed.is_dir()


def test_wheel_install_schemas_found_under_the_data_prefix(tmp_path: Path) -> None:
    installed = _schemas_at(tmp_path / "prefix" / "share" / "edigate" / "schemas" / "medcom")
    package = tmp_path / "prefix" / "lib" / "python3.11" / "site-packages" / "edigate"
    assert shipped_schema_dir(package, tmp_path / "prefix") == installed


def test_neither_names_the_checkout_path(tmp_path: Path) -> None:
    package = tmp_path / "repo" / "edigate"
    assert shipped_schema_dir(package, tmp_path / "prefix") == tmp_path / "repo" / "schemas" / "medcom"
