"""Everything the handlers use, opened once at start-up and closed at shutdown.

``open_services`` is the only place that decides which backends run: the configured PostgreSQL
or an embedded one, Redis or the in-process store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

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


async def database_url(settings: Settings) -> str:
    """The configured database URL, or that of an embedded server started in ``data_dir``."""
    if settings.database.url:
        return settings.database.url
    return await start_embedded(settings.data_dir)


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Connect to the database (migrating it) and the store, load the signing keys; close all on exit."""
    box = SecretBox(load_master_key(settings))
    url = await database_url(settings)
    db = await Database.connect(url, settings.database)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.close)
        async with db.connection() as conn:
            await migrate(conn)
        store = await open_store(settings.redis)
        stack.push_async_callback(store.close)
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
        data = await stack.enter_async_context(open_data_api(settings, url))
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
        )
