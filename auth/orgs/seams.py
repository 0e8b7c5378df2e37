"""What the organisation flows need from the identity flows: mail and sessions.

``Mailer`` queues a templated mail inside the caller's transaction (the identity flows' outbox);
``SessionOpener`` opens a session in an organisation and answers its token set (switch-org and
an accepted invitation sign the user in to the organisation they chose).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class SessionOpener(Protocol):
    async def open(
        self,
        conn: asyncpg.Connection,
        *,
        user_id: str,
        org_id: str,
        role: str,
        amr: Sequence[str],
        client: ClientContext,
    ) -> Mapping[str, Any]:
        """Open a session in ``org_id`` (inside the caller's transaction); its tokens as JSON."""
        ...
