"""What the organisation flows share: the mail they need from the identity flows, and who acts.

``Mailer`` queues a templated mail inside the caller's transaction (the identity flows' outbox).
Switch-org and an accepted invitation sign the user in to the organisation they chose with the
identity flows' ``auth.sessions.opener.SessionOpener``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from rowgate.auth.audit import ClientContext


class Mailer(Protocol):
    async def queue(
        self, conn: asyncpg.Connection, template: str, recipient: str, values: Mapping[str, str]
    ) -> int: ...

    def wake(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A user acting on their own account (not as a member of any organisation in particular)."""

    user_id: str
    session_id: str | None
    amr: tuple[str, ...]
    client: ClientContext
