"""Encryption at rest of message bodies: sealing, key ids for rotation, clear key errors."""

from __future__ import annotations

import base64
import os

import pytest

from edigate.store.crypto import (
    ACTIVE_ENV,
    KEYS_ENV,
    MAGIC,
    BodyDecryptError,
    BodyKeyError,
    BodyKeyring,
    key_id_of,
    message_aad,
)

BODY = '<?xml version="1.0" encoding="ISO-8859-1"?><Emessage>CPR 0101010000 Ærø</Emessage>'.encode("latin-1")
AAD = message_aad("5790001382445", "ENV0001")


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ring(**env: str) -> BodyKeyring:
    r = BodyKeyring.from_environment(env)
    assert r is not None
    return r


def test_off_when_no_keys() -> None:
    assert BodyKeyring.from_environment({}) is None


def test_seal_and_open_round_trip_without_plaintext_in_the_stored_bytes() -> None:
    r = ring(**{KEYS_ENV: f"k1:{key()}"})
    stored = r.seal(BODY, AAD)
    assert stored.startswith(MAGIC + bytes([2]) + b"k1")
    assert b"0101010000" not in stored and b"Emessage" not in stored
    assert r.open(stored, AAD) == BODY
    assert r.seal(BODY, AAD) != stored  # a fresh nonce every time
    assert key_id_of(stored) == "k1"


def test_a_body_moved_to_another_message_does_not_open() -> None:
    r = ring(**{KEYS_ENV: f"k1:{key()}"})
    stored = r.seal(BODY, AAD)
    with pytest.raises(BodyDecryptError, match="moved to another message"):
        r.open(stored, message_aad("5790001382445", "ENV0002"))
    tampered = stored[:-1] + bytes([stored[-1] ^ 1])
    with pytest.raises(BodyDecryptError):
        r.open(tampered, AAD)
    with pytest.raises(BodyDecryptError, match="truncated"):
        r.open(stored[:10], AAD)


def test_rotation_old_bodies_stay_readable_while_their_key_is_listed() -> None:
    k1, k2 = key(), key()
    old = ring(**{KEYS_ENV: f"k1:{k1}"})
    stored_old = old.seal(BODY, AAD)
    both = ring(**{KEYS_ENV: f"k1:{k1},k2:{k2}", ACTIVE_ENV: "k2"})
    assert both.open(stored_old, AAD) == BODY
    assert both.needs_rotation(stored_old)
    stored_new = both.seal(BODY, AAD)
    assert key_id_of(stored_new) == "k2" and not both.needs_rotation(stored_new)
    only_new = ring(**{KEYS_ENV: f"k2:{k2}"})
    assert only_new.open(stored_new, AAD) == BODY
    with pytest.raises(BodyKeyError, match=r"key id 'k1'.*EDIGATE_BODY_KEYS"):
        only_new.open(stored_old, AAD)


def test_plain_bodies_from_before_encryption_are_returned_as_stored() -> None:
    r = ring(**{KEYS_ENV: f"k1:{key()}"})
    assert r.open(BODY, AAD) == BODY
    assert r.open(b"", AAD) == b""  # a purged body
    assert r.needs_rotation(BODY) and not r.needs_rotation(b"")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({KEYS_ENV: "k1:" + key() + ",k2:" + key()}, "EDIGATE_BODY_KEY_ID is not set"),
        ({KEYS_ENV: "k1:" + key(), ACTIVE_ENV: "k9"}, "EDIGATE_BODY_KEY_ID='k9' is not one of"),
        ({ACTIVE_ENV: "k1"}, "EDIGATE_BODY_KEYS is empty"),
        ({KEYS_ENV: "k1:" + base64.b64encode(b"short").decode()}, "k1' is 5 bytes; AES-256 needs 32"),
        ({KEYS_ENV: "k1:not base64!"}, "not valid base64"),
        ({KEYS_ENV: "nocolon"}, "must be <key id>:<base64 key>"),
        ({KEYS_ENV: "k1:" + key() + ",k1:" + key(), ACTIVE_ENV: "k1"}, "listed twice"),
    ],
)
def test_key_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(BodyKeyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BodyKeyring.from_environment(env)


def test_url_safe_base64_and_repr_hides_the_key() -> None:
    raw = os.urandom(32)
    r = ring(**{KEYS_ENV: "k1:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")})
    assert r.keys["k1"] == raw
    assert base64.b64encode(raw).decode() not in repr(r) and "k1" in repr(r)
