"""Databases as the landed version (commit 60024f2) left them, loaded from the dumps in tests/fixtures/landed, and
a description of a database's schema for comparing two of them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "landed"


def load_landed(url: str) -> None:
    """Fill the empty database at `url` (sqlite:///… or postgresql://…) with the landed dump."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            conn.executescript((FIXTURES / "sqlite.sql").read_text())
        return

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute((FIXTURES / "postgresql.sql").read_text())
        finally:
            await conn.close()

    asyncio.run(run())


def describe(conn: Connection) -> dict[str, Any]:
    """Tables with their columns (name, type, nullable, in order), primary key, foreign keys, unique constraints
    and indexes (with their partial-index predicates): what must be equal between an upgraded and a new database."""
    insp = sa.inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)]
        fks = sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in insp.get_foreign_keys(table)
        )
        uniques = sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table))
        indexes = sorted(
            (
                i["name"],
                tuple(str(c) for c in i["column_names"]),
                bool(i["unique"]),
                str(i.get("dialect_options", {}).get(f"{conn.dialect.name}_where", "")),
            )
            for i in insp.get_indexes(table)
        )
        pk = tuple(insp.get_pk_constraint(table)["constrained_columns"])
        out[table] = {"columns": columns, "pk": pk, "fks": fks, "uniques": uniques, "indexes": indexes}
    return out


@contextmanager
def second_pg_database(url: str) -> Iterator[str]:
    """Another empty database on the server of `url` (whose name it extends), dropped afterwards."""
    server, name = url.rsplit("/", 1)
    other = f"{name}_b"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{server}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{other}"'))
    try:
        yield f"{server}/{other}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)'))
