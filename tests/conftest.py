"""Fixtures shared by all tests: ../shared material, PostgreSQL, SMTP, receivers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness.config import sqlite_url
from tests.harness.receiver import Receiver
from tests.harness.smtp import SmtpServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MEDCOM = SHARED / "medcom"
OFFICIAL_XSD = MEDCOM / "official-xsd"
EXAMPLES = MEDCOM / "examples"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def require_shared() -> Path:
    """Skip (with the reason printed by -ra) when ../shared/medcom is not beside the clone."""
    if not OFFICIAL_XSD.is_dir() or not EXAMPLES.is_dir():
        pytest.skip(f"MedCom reference material not found at {MEDCOM}; these tests need ../shared/medcom")
    return MEDCOM


@pytest.fixture
def medcom_shared() -> Path:
    return require_shared()


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


#: DROP DATABASE waits for a checkpoint (0.5-2 s on a busy machine), so a test's database is dropped in the
#: background while the next tests run (on SQLite, or without a database). The next `postgres_url` waits for
#: the drops first, and so does the session's end (pytest_sessionfinish); a failed drop is an error there.
_PG_DROPS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop")
_PG_DROPPED: list[tuple[str, Future[None]]] = []


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _drop_database(name: str) -> None:
    import asyncio

    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _finish_drops() -> list[str]:
    """Wait for the test databases being dropped; the ones that could not be dropped, with the reason."""
    failed = [f"{name}: {fut.exception()!r}" for name, fut in _PG_DROPPED if fut.exception() is not None]
    _PG_DROPPED.clear()
    return failed


def _create_database(name: str, template: str | None = None) -> None:
    import asyncio

    import asyncpg

    sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")

    async def create() -> None:
        # CREATE DATABASE copies its template and fails while another session is copying it or connected to it
        for attempt in range(20):
            try:
                await _pg_admin(sql)
                return
            except asyncpg.exceptions.ObjectInUseError:
                await asyncio.sleep(0.2 * (attempt + 1))
        await _pg_admin(sql)

    asyncio.run(create())


#: The session's PostgreSQL database at the newest schema revision, made on first use (migrating an empty
#: database takes 1-3 s on a busy machine; copying this one, a fraction) and dropped at the session's end.
_PG_TEMPLATE: list[str] = []


def _migrated_template() -> str:
    if not _PG_TEMPLATE:
        import asyncio

        from edigate.store.db import Database

        name = f"edigate_t_template_{uuid.uuid4().hex[:12]}"
        _create_database(name)
        _PG_TEMPLATE.append(name)  # dropped at the session's end even if migrating fails

        async def migrate() -> None:
            db = Database.open(f"postgresql://postgres@127.0.0.1:5432/{name}")
            try:
                await db.migrate()
            finally:
                await db.close()  # no session may stay connected to a template

        asyncio.run(migrate())
    return _PG_TEMPLATE[0]


def _test_database(migrated: bool) -> Iterator[str]:
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run starts it)")
    if failed := _finish_drops():
        raise RuntimeError(f"an earlier test's database could not be dropped: {failed}")
    template = _migrated_template() if migrated else None
    name = f"edigate_t_{uuid.uuid4().hex[:12]}"
    _create_database(name, template)
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _PG_DROPPED.append((name, _PG_DROPS.submit(_drop_database, name)))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards (in the background)."""
    yield from _test_database(migrated=False)


@pytest.fixture
def migrated_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test at the newest schema revision (a copy of the session's
    migrated template: what a service's first start would leave), dropped afterwards (in the background)."""
    yield from _test_database(migrated=True)


STORAGES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORAGES)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The storage URL of a test that runs twice: on SQLite (a new file in tmp_path: the service or the test
    creates and migrates it), then on PostgreSQL (a database already at the newest revision, copied from the
    session's template; the empty-database path is `empty_storage_url`'s and `postgres_url`'s)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "edigate.db")
    return str(request.getfixturevalue("migrated_postgres_url"))


@pytest.fixture(params=STORAGES)
def empty_storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """As `storage_url`, but the PostgreSQL database is empty too: for tests of migrating a new store."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "edigate.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver().start()
    try:
        yield rec
    finally:
        rec.stop()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Bytecode of edigate and notify before anything imports them (tests.harness.bytecode says why)."""
    from tests.harness.bytecode import compile_packages

    compile_packages(REPO)


# ------------------------------------------------------------------------------------------------ FHIR


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """When the tests run (never while they are only collected: `--collect-only` starts no process), start
    the shared FHIR validator in the background if a selected test will need it (its JVM takes 30-90 s to
    warm up; the tests before it run meanwhile). The fixture starts it too, at the latest."""
    from tests.harness.fhir import SHARED_VALIDATOR

    option = session.config.option
    if option.collectonly or option.setupplan or (session.testsfailed and not option.continue_on_collection_errors):
        return  # nothing runs (pytest's own loop stops on collection errors)
    if any("fhir_validator_url" in getattr(item, "fixturenames", ()) for item in session.items):
        SHARED_VALIDATOR.start_in_background()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.harness.fhir import SHARED_VALIDATOR

    SHARED_VALIDATOR.stop()
    failed = _finish_drops()
    for name in _PG_TEMPLATE:  # after the copies: none is being made from it any more
        try:
            _drop_database(name)
        except Exception as exc:
            failed.append(f"{name}: {exc!r}")
    _PG_TEMPLATE.clear()
    if failed:  # no test database outlives the session
        session.config.get_terminal_writer().line(f"test databases that could not be dropped: {failed}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def fhir_validator_url() -> str:
    """The URL of the one FHIR validator process of this test session (skips, with the reason, without Java,
    the jar or ../shared/medcom/fhir-packages)."""
    from tests.harness.fhir import SHARED_VALIDATOR, fhir_skip_reason

    reason = fhir_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return SHARED_VALIDATOR.url()
