"""Which exceptions mean "storage cannot serve now" (503 and not ready) and which stay bugs (500)."""

from __future__ import annotations

import errno
import sqlite3

import sqlalchemy.exc

from edigate.web.storage_trouble import storage_failure


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg {sqlstate}")
        self.sqlstate = sqlstate


def test_a_full_disk_is_recognised_on_both_databases() -> None:
    sqlite_full = sqlalchemy.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    pg_full = sqlalchemy.exc.DBAPIError("INSERT", {}, PgError("53100"))
    assert storage_failure(sqlite_full) == "disk_full"
    assert storage_failure(pg_full) == "disk_full"
    assert storage_failure(OSError(errno.ENOSPC, "No space left on device")) == "disk_full"


def test_a_lost_database_is_unavailable() -> None:
    assert storage_failure(sqlalchemy.exc.DBAPIError("SELECT", {}, PgError("08006"))).startswith("database_unavailable")  # type: ignore[union-attr]
    assert storage_failure(sqlalchemy.exc.DBAPIError("SELECT", {}, PgError("57P01"))).startswith("database_unavailable")  # type: ignore[union-attr]
    assert storage_failure(ConnectionRefusedError()).startswith("database_unavailable")  # type: ignore[union-attr]


def test_bugs_and_bad_data_stay_what_they_are() -> None:
    assert storage_failure(sqlalchemy.exc.IntegrityError("INSERT", {}, PgError("23505"))) is None
    assert storage_failure(sqlalchemy.exc.DBAPIError("INSERT", {}, PgError("22021"))) is None  # NUL byte
    assert storage_failure(ValueError("x")) is None
    assert storage_failure(KeyError("x")) is None
    assert storage_failure(FileNotFoundError(errno.ENOENT, "no such file")) is None
