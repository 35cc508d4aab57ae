"""Bodies at rest are compressed before they are sealed (issue 14): every body reads back byte for byte,
rows stored before (plain, or sealed uncompressed) stay readable without a migration, a body that looks
like a stored form is never mistaken for one, and the CPR is never in clear in a sealed row."""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edigate.store.body_encoding import COMPRESSED, BodyDecodeError, is_compressed, pack, unpack
from edigate.store.crypto import (
    KEYS_ENV,
    MAGIC,
    BodyKeyError,
    BodyKeyring,
    is_sealed,
    key_id_of,
    message_aad,
    open_body,
    rotate_bodies,
    seal_rows,
)
from edigate.store.db import Database
from edigate.store.schema import messages
from tests.conftest import sqlite_url
from tests.unit.medcom.samples import FICTITIOUS_CPR, xdis91_message

SENDER, ENV = "5790001382445", "ENV0001"
AAD = message_aad(SENDER, ENV)
BODY = xdis91_message()
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def ring(active: str = "k1", **keys: bytes) -> BodyKeyring:
    spec = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in (keys or {"k1": os.urandom(32)}).items())
    r = BodyKeyring.from_environment({KEYS_ENV: spec, "EDIGATE_BODY_KEY_ID": active})
    assert r is not None
    return r


def stored(keyring: BodyKeyring | None, body: bytes) -> bytes:
    (row,) = seal_rows(keyring, [{"body": body, "sender_ean": SENDER, "envelope_id": ENV}])
    value = row["body"]
    assert isinstance(value, bytes)
    return value


def test_a_medcom_body_is_stored_compressed_and_reads_back_exactly() -> None:
    plain = stored(None, BODY)
    assert is_compressed(plain) and len(plain) < len(BODY) / 2
    assert FICTITIOUS_CPR.encode() not in plain
    assert open_body(None, plain, SENDER, ENV) == BODY


def test_sealed_bodies_are_compressed_inside_and_never_hold_the_cpr_in_clear() -> None:
    r = ring()
    sealed = stored(r, BODY)
    assert is_sealed(sealed) and key_id_of(sealed) == "k1"
    assert FICTITIOUS_CPR.encode() not in sealed and b"Emessage" not in sealed
    assert is_compressed(r.open(sealed, AAD)), "compressed first: ciphertext does not compress"
    assert len(sealed) < len(BODY) / 2
    assert open_body(r, sealed, SENDER, ENV) == BODY
    with pytest.raises(BodyKeyError, match=KEYS_ENV):  # never ciphertext to a receiver
        open_body(None, sealed, SENDER, ENV)


def test_rows_stored_before_compression_stay_readable() -> None:
    r = ring()
    old_plain = BODY  # stored in clear before this change
    old_sealed = r.seal(BODY, AAD)  # sealed, uncompressed, before this change
    assert open_body(None, old_plain, SENDER, ENV) == BODY
    assert open_body(r, old_plain, SENDER, ENV) == BODY
    assert open_body(r, old_sealed, SENDER, ENV) == BODY
    assert open_body(None, b"", SENDER, ENV) == b"" and open_body(r, b"", SENDER, ENV) == b""  # purged


def test_small_bodies_that_do_not_shrink_are_stored_as_they_are() -> None:
    assert stored(None, b"<r/>") == b"<r/>"
    assert open_body(None, b"<r/>", SENDER, ENV) == b"<r/>"


@pytest.mark.parametrize("lookalike", [COMPRESSED + b"not zlib", MAGIC + b"\x02k1 not sealed", COMPRESSED, MAGIC])
def test_a_body_that_starts_like_a_stored_form_reads_back_unchanged(lookalike: bytes) -> None:
    """Hostile input stored as rejected must not be taken for a compressed or sealed body."""
    plain = stored(None, lookalike)
    assert plain != lookalike and is_compressed(plain)
    assert open_body(None, plain, SENDER, ENV) == lookalike
    r = ring()
    assert open_body(r, stored(r, lookalike), SENDER, ENV) == lookalike


def test_damaged_compressed_bytes_are_a_clear_error() -> None:
    damaged = pack(BODY)[:-20]
    with pytest.raises(BodyDecodeError, match="does not decompress"):
        unpack(damaged)


KEYRING = ring()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=4000),
        st.text(max_size=3000).map(lambda t: t.encode("utf-8")),
        st.sampled_from([COMPRESSED, MAGIC]).flatmap(lambda m: st.binary(max_size=200).map(lambda b: m + b)),
    ),
    encrypted=st.booleans(),
)
def test_every_body_reads_back_byte_for_byte(body: bytes, encrypted: bool) -> None:
    keyring = KEYRING if encrypted else None
    assert open_body(keyring, stored(keyring, body), SENDER, ENV) == body


def test_rotation_reads_old_rows_and_stores_them_compressed(tmp_path: Path) -> None:
    """`edigate bodykeys rotate` over rows of every earlier form: each is sealed with the active key,
    compressed inside, and reads back as it arrived."""
    k1, k2 = os.urandom(32), os.urandom(32)
    old, new = ring(k1=k1), ring("k2", k1=k1, k2=k2)
    forms = {
        "plain": BODY,
        "sealed with k1": old.seal(BODY, message_aad(SENDER, "ENV2")),
        "compressed, in clear": stored(None, BODY),
    }

    async def run() -> list[tuple[str, bytes]]:
        db = Database.open(sqlite_url(tmp_path / "edigate.db"))
        try:
            await db.migrate()
            async with db.engine.begin() as conn:
                for i, body in enumerate(forms.values()):
                    await conn.execute(
                        sa.insert(messages).values(
                            envelope_id=f"ENV{i + 1}",
                            sender_ean=SENDER,
                            receiver_ean="5790000198764",
                            type="XDIS91",
                            ack_requested=False,
                            is_receipt=False,
                            generated=False,
                            state="delivered",
                            delivery_state="delivered",
                            body=body,
                            body_size=len(BODY),
                            attempts=1,
                            created_at=AT,
                            updated_at=AT,
                        )
                    )
            result = await rotate_bodies(db, new)
            assert result.examined == 3 and result.resealed == 1 and result.sealed_plain == 2
            async with db.engine.connect() as conn:
                rows = (await conn.execute(sa.select(messages.c.envelope_id, messages.c.body))).all()
            return [(str(e), bytes(b)) for e, b in rows]
        finally:
            await db.close()

    for envelope_id, body in asyncio.run(run()):
        assert key_id_of(body) == "k2" and FICTITIOUS_CPR.encode() not in body
        assert is_compressed(new.open(body, message_aad(SENDER, envelope_id)))
        assert open_body(new, body, SENDER, envelope_id) == BODY
