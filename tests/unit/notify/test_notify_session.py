"""Sessions and CSRF: a token is valid only for its own session; tampering and expiry are rejected."""

from __future__ import annotations

import dataclasses
import time

from notify import session as s

SECRET = b"k" * 32


def test_csrf_token_is_bound_to_the_session() -> None:
    a, b = s.new_session(), s.new_session(name="EOJ Odense")
    assert s.csrf_ok(SECRET, a, s.csrf_token(SECRET, a))
    assert not s.csrf_ok(SECRET, b, s.csrf_token(SECRET, a))
    assert not s.csrf_ok(SECRET, a, "")
    assert not s.csrf_ok(SECRET, None, s.csrf_token(SECRET, a))
    assert not s.csrf_ok(b"other-secret", a, s.csrf_token(SECRET, a))


def test_cookie_round_trip_and_tampering() -> None:
    sess = s.new_session(name="EOJ Odense", organisation="5799999000201", role="eoj")
    value = s.encode(SECRET, sess)
    assert s.decode(SECRET, value) == sess
    payload, mac = value.rsplit(".", 1)
    forged = s.encode(b"attacker", dataclasses.replace(sess, is_admin=True)).rsplit(".", 1)[0] + "." + mac
    assert s.decode(SECRET, forged) is None
    assert s.decode(SECRET, payload + ".AAAA") is None
    assert s.decode(SECRET, "garbage") is None and s.decode(SECRET, None) is None


def test_expired_session_is_rejected() -> None:
    old = dataclasses.replace(s.new_session(name="x"), expires=int(time.time()) - 1)
    assert s.decode(SECRET, s.encode(SECRET, old)) is None
