"""``rowgate keys list | rotate | retire``: the signing-key lifecycle from the command line.

``rotate`` publishes a next key that signs once every cached JWKS has it (or promotes a next key
that is due); ``rotate --now`` is the emergency: a new key signs at once and every other key of the
algorithm is retired, so tokens they signed stop verifying everywhere (clients refresh).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from rowgate.auth.tokens.keystore import SigningKeys
from rowgate.auth.tokens.lifecycle import KeyChange, KeyRow
from rowgate.config import Settings

T = TypeVar("T")


def add_key_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="manage signing keys (list, rotate, retire)")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every signing key with its state")
    rotate = actions.add_parser(
        "rotate",
        help="publish the next signing key (it signs once every cached JWKS has it), or promote a due one",
    )
    rotate.add_argument(
        "--algorithm", choices=["EdDSA", "ES256", "RS256", "HS256"], help="default: tokens.algorithm"
    )
    rotate.add_argument(
        "--now",
        action="store_true",
        help="emergency (a key leaked): a new key signs at once and every other key of the algorithm is "
        "retired; tokens they signed stop verifying and clients must refresh",
    )
    retire = actions.add_parser("retire", help="retire a next or retiring key before its time")
    retire.add_argument("kid", help="the key id (see `rowgate keys list`)")
    for parser in (listing, rotate, retire):
        parser.add_argument(
            "--config", metavar="PATH", help="settings file (default: $ROWGATE_CONFIG or the bundled one)"
        )


def run_key_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``rowgate keys ACTION`` and print what happened."""
    if args.keys_command == "list":
        rows = asyncio.run(_with_keys(settings, lambda keys: keys.listing(), start=False))
        print(_table(rows, settings))
        return 0
    if args.keys_command == "retire":
        change = asyncio.run(_with_keys(settings, lambda keys: keys.retire(args.kid)))
        print(describe(change, settings))
    else:
        changes = asyncio.run(
            _with_keys(settings, lambda keys: keys.rotate(args.algorithm, at_once=args.now))
        )
        for change in changes:
            print(describe(change, settings))
        if not changes:
            print("a next key is already published and not due yet: `rowgate keys list` says when it signs")
    if not settings.redis.url:
        interval = settings.tokens.rotation.check_interval
        print(f"redis.url is not set: running instances pick the change up within {interval}")
    return 0


def describe(change: KeyChange, settings: Settings) -> str:
    """One line saying what a lifecycle step means for the operator."""
    lifetime = settings.tokens.retired_key_lifetime
    if change.event == "key.published":
        return (
            f"published next signing key {change.kid} ({change.algorithm}) in the JWKS; "
            f"it signs from {change.details['signsFrom']} (any running instance promotes it)"
        )
    if change.event == "key.retired":
        return f"retired signing key {change.kid}: out of the JWKS, tokens it signed no longer verify"
    if change.details.get("atOnce"):
        algorithm = change.algorithm
        return f"signing key {change.kid} ({algorithm}) signs now; every other {algorithm} key is retired"
    return (
        f"signing key {change.kid} ({change.algorithm}) signs now; the previous one "
        f"({change.details.get('previous')}) verifies for {lifetime} more"
    )


def _table(rows: list[KeyRow], settings: Settings) -> str:
    lifetime = settings.tokens.retired_key_lifetime
    lines = [f"{'KID':<24} {'ALG':<6} {'STATE':<9} {'CREATED':<20} NOTE"]
    for row in rows:
        note = state_note(row, lifetime)
        lines.append(f"{row.kid:<24} {row.algorithm:<6} {row.state:<9} {_when(row.created_at):<20} {note}")
    return "\n".join(lines)


def state_note(row: KeyRow, lifetime: timedelta, when: Callable[[datetime], str] | None = None) -> str:
    """When a key's state changes or changed: ``signs from …``, ``verifies until …``, ..."""
    at = when or _when
    if row.state == "next" and row.signs_from:
        return f"signs from {at(row.signs_from)}"
    if row.state == "active" and row.activated_at:
        return f"signing since {at(row.activated_at)}"
    if row.state == "retiring" and row.retired_at:
        return f"verifies until {at(row.retired_at + lifetime)}"
    if row.state == "retired" and row.retired_at:
        return f"retired {at(row.retired_at)}"
    return ""


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


async def _with_keys(
    settings: Settings, action: Callable[[SigningKeys], Awaitable[T]], *, start: bool = True
) -> T:
    from rowgate.auth.crypto import SecretBox, load_master_key
    from rowgate.auth.db import Database
    from rowgate.auth.store import open_store
    from rowgate.proxy.services import database_url

    box = SecretBox(load_master_key(settings))
    db = await Database.connect(await database_url(settings), settings.database)
    store = await open_store(settings.redis)
    keys = SigningKeys(db, box, store, settings.tokens)
    try:
        if start:
            await keys.start()
        return await action(keys)
    finally:
        await keys.close()
        await store.close()
        await db.close()
