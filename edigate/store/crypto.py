"""Optional encryption at rest of stored message bodies (they hold CPR numbers and health data).

AES-256-GCM from `cryptography`. Keys come from the environment, never from the TOML file:

    EDIGATE_BODY_KEYS="2026a:<base64 of 32 bytes>,2027a:<base64 of 32 bytes>"
    EDIGATE_BODY_KEY_ID="2027a"        # the key new bodies are sealed with

Each sealed body is self-describing, so keys rotate without a flag day:

    b"EGC1" | len(key id) (1 byte) | key id (ASCII) | nonce (12 bytes) | ciphertext + GCM tag

A body stays readable while its key id is listed in EDIGATE_BODY_KEYS; `rotate_bodies` re-seals old
bodies with the active key, after which the old key can be removed. Bodies stored before encryption was
switched on (plain XML, never starting with b"EGC1") are returned as they are, and `rotate_bodies` seals
them too. The associated data binds a body to its message (sender EAN + envelope id, see `message_aad`),
so a body copied onto another row does not decrypt.

What is sealed is the body's stored form (`edigate.store.body_encoding`): compressed when that makes it
smaller. `seal_rows` and `open_body` do both steps, with or without encryption; older rows (sealed or
plain, never compressed) read as before.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edigate.store.body_encoding import SEALED, pack, unpack
from edigate.store.schema import messages

MAGIC = SEALED
NONCE_BYTES = 12
KEY_BYTES = 32
KEYS_ENV = "EDIGATE_BODY_KEYS"
ACTIVE_ENV = "EDIGATE_BODY_KEY_ID"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

if TYPE_CHECKING:
    from edigate.store.db import Database


class BodyKeyError(ValueError):
    """A key problem: bad EDIGATE_BODY_KEYS / EDIGATE_BODY_KEY_ID, or a body sealed with an unknown key."""


class BodyDecryptError(ValueError):
    """The sealed body does not open: wrong key material, tampered bytes, or a body moved to another row."""


def message_aad(sender_ean: str, envelope_id: str) -> bytes:
    """Associated data of a stored body: who sent it and its envelope id.

    Not the row id: the id is allocated by the INSERT that stores the body, and a re-sent receipt is a
    copy of the original row (same sender and envelope id) that must stay readable.
    """
    return f"edigate-body/v1|{sender_ean}|{envelope_id}".encode()


def is_sealed(stored: bytes) -> bool:
    return stored[: len(MAGIC)] == MAGIC


def key_id_of(stored: bytes) -> str | None:
    """The key id a stored body was sealed with; None for a plain (unencrypted or purged) body."""
    if not is_sealed(stored):
        return None
    return _split(stored)[0]


def _split(stored: bytes) -> tuple[str, bytes, bytes]:
    pos = len(MAGIC)
    if len(stored) < pos + 1:
        raise BodyDecryptError("sealed body is truncated (no key id length)")
    n = stored[pos]
    pos += 1
    raw_kid = stored[pos : pos + n]
    pos += n
    nonce = stored[pos : pos + NONCE_BYTES]
    pos += NONCE_BYTES
    ciphertext = stored[pos:]
    try:
        kid = raw_kid.decode("ascii")
    except UnicodeDecodeError:
        raise BodyDecryptError("sealed body has a key id that is not ASCII") from None
    if not _KEY_ID.match(kid) or len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
        raise BodyDecryptError("sealed body is truncated or malformed")
    return kid, nonce, ciphertext


@dataclass(frozen=True)
class BodyKeyring:
    """The body keys of this process: every readable key id, and the one new bodies are sealed with."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise BodyKeyError(
                f"{ACTIVE_ENV}={self.active!r} is not one of the key ids in {KEYS_ENV} "
                f"({', '.join(sorted(self.keys)) or 'none'})"
            )

    def __repr__(self) -> str:  # never print key material
        return f"BodyKeyring(key_ids={sorted(self.keys)}, active={self.active!r})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> BodyKeyring | None:
        """The keyring from EDIGATE_BODY_KEYS / EDIGATE_BODY_KEY_ID; None when encryption is off."""
        env = os.environ if environ is None else environ
        spec = env.get(KEYS_ENV, "").strip()
        active = env.get(ACTIVE_ENV, "").strip()
        if not spec:
            if active:
                raise BodyKeyError(f"{ACTIVE_ENV} is set but {KEYS_ENV} is empty: set the keys, or unset both")
            return None
        keys = parse_keys(spec)
        if not active:
            if len(keys) != 1:
                raise BodyKeyError(
                    f"{ACTIVE_ENV} is not set: name the key new bodies are sealed with "
                    f"(one of {', '.join(sorted(keys))})"
                )
            active = next(iter(keys))
        return cls(keys, active)

    def seal(self, body: bytes, aad: bytes) -> bytes:
        """Encrypt a body with the active key (a fresh random nonce every time)."""
        kid = self.active.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + bytes([len(kid)]) + kid + nonce + AESGCM(self.keys[self.active]).encrypt(nonce, body, aad)

    def open(self, stored: bytes, aad: bytes) -> bytes:
        """Decrypt a stored body; a plain body (stored before encryption, or purged) comes back as is."""
        if not is_sealed(stored):
            return stored
        kid, nonce, ciphertext = _split(stored)
        key = self.keys.get(kid)
        if key is None:
            raise BodyKeyError(
                f"this body is sealed with key id {kid!r}, which is not in {KEYS_ENV} "
                f"(known: {', '.join(sorted(self.keys))}); add the old key back to read it"
            )
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise BodyDecryptError(
                f"body sealed with key id {kid!r} does not open: wrong key material for that id, "
                "or the stored bytes were altered or moved to another message"
            ) from None

    def needs_rotation(self, stored: bytes) -> bool:
        """True for a non-empty body that is plain or sealed with another key than the active one."""
        return bool(stored) and key_id_of(stored) != self.active


def parse_keys(spec: str) -> dict[str, bytes]:
    """`kid:base64,kid:base64` -> {kid: 32 key bytes}; every error names EDIGATE_BODY_KEYS and the key id."""
    keys: dict[str, bytes] = {}
    for i, part in enumerate(p.strip() for p in spec.split(",")):
        if not part:
            continue
        kid, sep, b64 = part.partition(":")
        kid = kid.strip()
        if not sep or not _KEY_ID.match(kid):
            raise BodyKeyError(
                f"{KEYS_ENV} entry {i + 1}: must be <key id>:<base64 key>, the key id 1-32 of A-Z a-z 0-9 _ . -"
            )
        if kid in keys:
            raise BodyKeyError(f"{KEYS_ENV}: key id {kid!r} is listed twice")
        b64 = b64.strip().replace("-", "+").replace("_", "/")  # URL-safe base64 is accepted too
        try:
            material = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise BodyKeyError(f"{KEYS_ENV}: key {kid!r} is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise BodyKeyError(
                f"{KEYS_ENV}: key {kid!r} is {len(material)} bytes; AES-256 needs {KEY_BYTES} "
                "(make one with: python3 -c "
                "'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')"
            )
        keys[kid] = material
    if not keys:
        raise BodyKeyError(f"{KEYS_ENV} holds no keys")
    return keys


# ------------------------------------------------------------------------------------------ rotation


@dataclass(frozen=True)
class RotationResult:
    examined: int
    resealed: int  # sealed with an older key, now with the active one
    sealed_plain: int  # stored before encryption was on, now sealed


async def rotate_bodies(database: Database, keyring: BodyKeyring, *, batch: int = 200) -> RotationResult:
    """Re-seal every stored body that is plain or under an older key with the active key.

    Works in id order, `batch` rows per transaction; each UPDATE only applies when the body is still
    the one read, so it is safe while the service runs. Idempotent: run it again after a crash.
    """
    m = messages.c
    examined = resealed = sealed_plain = 0
    last_id = 0
    while True:
        async with database.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(m.id, m.sender_ean, m.envelope_id, m.body)
                    .where(m.id > last_id)
                    .order_by(m.id)
                    .limit(batch)
                )
            ).all()
        if not rows:
            break
        last_id = rows[-1].id
        async with database.engine.begin() as conn:
            for r in rows:
                examined += 1
                stored = bytes(r.body)
                if not keyring.needs_rotation(stored):
                    continue
                aad = message_aad(r.sender_ean, r.envelope_id)
                new = keyring.seal(pack(unpack(keyring.open(stored, aad))), aad)  # compressed on the way
                res = await conn.execute(sa.update(messages).where(m.id == r.id, m.body == stored).values(body=new))
                if res.rowcount:
                    if is_sealed(stored):
                        resealed += 1
                    else:
                        sealed_plain += 1
    return RotationResult(examined, resealed, sealed_plain)


# ------------------------------------------------------------------------------------------ store hooks


def seal_rows(keyring: BodyKeyring | None, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Message rows about to be INSERTed, with their `body` in its stored form: compressed when that makes
    it smaller, then sealed when encryption is on.

    Call with the final rows (a generated receipt's envelope id is set after `_message_row`), and never
    on a copy of a stored row (a re-sent receipt): its body is stored already.
    """
    out = []
    for row in rows:
        body = row["body"]
        assert isinstance(body, bytes)
        stored = pack(body)
        if keyring is not None:
            stored = keyring.seal(stored, message_aad(str(row["sender_ean"]), str(row["envelope_id"])))
        out.append({**row, "body": stored})
    return out


def open_body(keyring: BodyKeyring | None, stored: bytes, sender_ean: str, envelope_id: str) -> bytes:
    """A stored body as the receiver must get it, byte for byte as it arrived: decrypted when sealed,
    decompressed when compressed; a row from before either is returned as stored.

    A sealed body without a keyring raises BodyKeyError naming EDIGATE_BODY_KEYS (never sends ciphertext).
    """
    stored = bytes(stored)
    if keyring is None:
        if is_sealed(stored):
            raise BodyKeyError(f"a stored body is sealed with key id {key_id_of(stored)!r} but {KEYS_ENV} is not set")
        return unpack(stored)
    return unpack(keyring.open(stored, message_aad(sender_ean, envelope_id)))


def new_key_line(key_id: str) -> str:
    """`<key id>:<base64 of 32 random bytes>`, ready to append to EDIGATE_BODY_KEYS."""
    if not _KEY_ID.match(key_id):
        raise BodyKeyError("key id: 1-32 of A-Z a-z 0-9 _ . -")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"
