"""`edigate bodykeys new KEY_ID` and `edigate bodykeys rotate --config FILE`: keys for bodies at rest.

`new` prints a fresh `kid:base64` entry for EDIGATE_BODY_KEYS. `rotate` re-seals every stored body that
is plain or under an older key with the active key (EDIGATE_BODY_KEY_ID); run it after adding a new key
and making it active, and remove the old key only afterwards. Safe while the service runs; idempotent.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from edigate.commands.store_access import run_on_database
from edigate.settings import ConfigError, load_settings
from edigate.store.crypto import BodyDecryptError, BodyKeyError, BodyKeyring, new_key_line, rotate_bodies
from edigate.store.db import Database


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("bodykeys", help="encryption keys for stored message bodies")
    sub = p.add_subparsers(dest="bodykeys_command", metavar="ACTION")
    new = sub.add_parser("new", help="print a new key entry for EDIGATE_BODY_KEYS")
    new.add_argument("key_id", help="e.g. 2027a")
    new.set_defaults(func=run_new)
    rot = sub.add_parser("rotate", help="re-seal stored bodies with the active key")
    rot.add_argument("--config", required=True, help="TOML configuration file")
    rot.set_defaults(func=run_rotate)
    p.set_defaults(func=lambda a: (p.print_help(sys.stderr), 2)[1])


def run_new(args: argparse.Namespace) -> int:
    try:
        print(new_key_line(args.key_id))
    except BodyKeyError as exc:
        print(f"edigate: {exc}", file=sys.stderr)
        return 2
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        keyring = BodyKeyring.from_environment()
    except (ConfigError, BodyKeyError) as exc:
        print(f"edigate: configuration error: {exc}", file=sys.stderr)
        return 2
    if keyring is None:
        print("edigate: EDIGATE_BODY_KEYS is not set: there is no key to seal with", file=sys.stderr)
        return 2
    return run_on_database(settings.storage.url, args.config, functools.partial(_rotate, keyring=keyring))


async def _rotate(db: Database, keyring: BodyKeyring) -> int:
    try:
        result = await rotate_bodies(db, keyring)
    except (BodyKeyError, BodyDecryptError) as exc:
        print(f"edigate: rotation stopped: {exc}", file=sys.stderr)
        return 1
    print(
        f"examined {result.examined} message bodies: re-sealed {result.resealed} from older keys, "
        f"sealed {result.sealed_plain} stored in clear, with key {keyring.active!r}"
    )
    return 0
