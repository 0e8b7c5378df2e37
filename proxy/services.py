"""Everything the handlers use, opened once at start-up and closed at shutdown.

``open_services`` is the only place that decides which backends run: the configured PostgreSQL
or an embedded one, Redis or the in-process store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rowgate.auth import audit
from rowgate.auth.alerts.runtime import Alerts
from rowgate.auth.crypto import SecretBox, load_master_key
from rowgate.auth.db import Database
from rowgate.auth.embedded import start_embedded
from rowgate.auth.flows.identity import Identity
from rowgate.auth.flows.runtime import open_identity
from rowgate.auth.mail.sender import MailSender
from rowgate.auth.migrate import migrate
from rowgate.auth.sessions.revocation import RevocationList, database_source, horizon
from rowgate.auth.social.signin import SocialSignin, open_social
from rowgate.auth.store import EphemeralStore, open_store
from rowgate.auth.tenancy import Tenancy, open_tenancy
from rowgate.auth.tokens.keystore import SigningKeys
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import Settings
from rowgate.proxy.data.rest import DataApi
from rowgate.proxy.data.service import open_data_api
from rowgate.proxy.links import mail_links

log = logging.getLogger("rowgate")


@dataclass
class Services:
    settings: Settings
    db: Database
    store: EphemeralStore
    revocations: RevocationList
    box: SecretBox
    keys: SigningKeys
    tokens: TokenService
    identity: Identity
    mail: MailSender
    data: DataApi
    tenancy: Tenancy
    social: SocialSignin
    alerts: Alerts


async def database_url(settings: Settings) -> str:
    """The configured database URL, or that of an embedded server started in ``data_dir``."""
    if settings.database.url:
        return settings.database.url
    return await start_embedded(settings.data_dir)


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Connect to the database (migrating it) and the store, load the signing keys; close all on exit.

    Steps that do not need each other overlap, since each waits mostly on a server: the store
    connects while the database connects and migrates, and the data API (its own pool, the policy
    file, the second wall) opens while the keys, identity and tenancy load.  A failure is reported
    in the same order as one step after the other would (the database's before the store's, the
    data API's last), and everything opened so far is closed again.
    """
    box = SecretBox(load_master_key(settings))
    url = await database_url(settings)
    async with contextlib.AsyncExitStack() as stack:
        store_opened = asyncio.ensure_future(open_store(settings.redis))
        stack.push_async_callback(_close_store, store_opened)
        db = await Database.connect(url, settings.database)
        stack.push_async_callback(db.close)
        async with db.connection() as conn:
            await migrate(conn)
        store = await store_opened
        data_stack = await stack.enter_async_context(contextlib.AsyncExitStack())
        data_opened = asyncio.ensure_future(
            data_stack.enter_async_context(open_data_api(settings, url, audit.recorder(db)))
        )
        stack.push_async_callback(_settle, data_opened)
        revocations = RevocationList(store, database_source(db), horizon(settings.tokens))
        await revocations.start()
        stack.push_async_callback(revocations.close)
        keys = SigningKeys(db, box, store, settings.tokens)
        stack.push_async_callback(keys.close)
        tokens = TokenService(settings, await keys.start())
        keys.add_listener(tokens.use_keyring)
        identity = await stack.enter_async_context(
            open_identity(settings, db, store, revocations, tokens, mail_links(settings), sealer=box)
        )
        tenancy = await stack.enter_async_context(
            open_tenancy(settings, db, store, revocations, identity.identity)
        )
        data = await data_opened
        social = await stack.enter_async_context(open_social(identity.identity))
        yield Services(
            settings=settings,
            db=db,
            store=store,
            revocations=revocations,
            box=box,
            keys=keys,
            tokens=tokens,
            identity=identity.identity,
            mail=identity.sender,
            data=data,
            tenancy=tenancy,
            social=social,
            alerts=identity.alerts,
        )


async def _settle(step: asyncio.Future[Any]) -> None:
    """Stop ``step`` if it still runs and wait for it: on the way out after another failure, its
    own outcome (an error too) is of no more use."""
    step.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await step


async def _close_store(opening: asyncio.Future[EphemeralStore]) -> None:
    """Close the store once its opening has finished (if it opened at all)."""
    await _settle(opening)
    if not opening.cancelled() and opening.exception() is None:
        await opening.result().close()
