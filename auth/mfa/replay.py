"""The replay guard: a TOTP code (a user's time step) is accepted once, by any instance.

With Redis configured the claim is one ``SET NX`` with an expiry there; without it (the
in-process store, which other instances cannot see) the claim is a row in PostgreSQL's
``rowgate.mfa_used_steps`` whose primary key makes a second claim fail.  Either way several
instances share the guard.  A claim outlives the window in which the step's code is accepted.
"""

from __future__ import annotations

from rowgate.auth.db import Database
from rowgate.auth.mfa.totp import DRIFT_STEPS, STEP_SECONDS
from rowgate.auth.store import EphemeralStore

#: How long a claim must last: the step's code is accepted up to DRIFT_STEPS steps later.
KEEP_SECONDS = (2 * DRIFT_STEPS + 2) * STEP_SECONDS


class ReplayGuard:
    def __init__(self, db: Database, store: EphemeralStore) -> None:
        self._db = db
        self._store = store

    async def claim(self, user_id: str, step: int) -> bool:
        """True the first time ``user_id`` uses ``step``; False for every later use."""
        if self._store.shared:
            key = f"mfa:used:{user_id}:{step}"
            return await self._store.set(key, "1", ttl=KEEP_SECONDS, only_if_absent=True)
        return await self._claim_in_database(user_id, step)

    async def _claim_in_database(self, user_id: str, step: int) -> bool:
        async with self._db.connection() as conn:
            claimed = await conn.fetchval(
                """
                INSERT INTO rowgate.mfa_used_steps (user_id, step, expires_at)
                VALUES ($1, $2, now() + make_interval(secs => $3))
                ON CONFLICT DO NOTHING RETURNING true
                """,
                user_id,
                step,
                float(KEEP_SECONDS),
            )
        return bool(claimed)
