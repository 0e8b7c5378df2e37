"""Redis restarted or flushed under two running instances with traffic: no 500s, revocations
made before, during and after the fault hold on every instance (one started after the fault
included), a signed-out session mints nothing, and what needs Redis works again at once."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from tests.faults.conftest import (
    Cluster,
    Traffic,
    assert_signups_whole,
    errors_logged,
    eventually,
    ready,
)
from tests.proxy.authkit import Api

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _key_status(api: Api, key: str) -> int:
    async with api.http.get(f"{api.server.url}/api/whoami", headers={"X-API-Key": key}) as response:
        return response.status


def _sid(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


async def _cannot_outlive_its_session(api: Api, access: str, refresh: str) -> None:
    """A signed-out session's tokens: refused upstream, no API key, no refresh, no new session."""
    assert await api.whoami(access) == 401
    minted = await api.call("POST", "/api-keys", {"name": "ci", "type": "secret", "scopes": []}, token=access)
    assert minted.status == 401, minted.body
    refreshed = await api.call("POST", "/refresh", {"refreshToken": refresh})
    assert (refreshed.status, refreshed.code) == (401, "session_revoked")


async def test_a_redis_restart_loses_no_revocation_and_leaves_no_stale_error(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = cluster.instances
    before = await cluster.session(a, "before@example.com")
    during = await cluster.session(b, "during@example.com")
    after = await cluster.session(a, "after@example.com")
    people = [(await cluster.session(a, f"person{n}@example.com")).email for n in range(10)]
    assert (await a.call("POST", "/signout", token=before.access)).status == 204
    await eventually(b, before.access, 401)

    async with Traffic(cluster.instances) as traffic:
        await asyncio.sleep(0.5)
        cluster.redis.stop()
        # Signing out cannot be announced: 503, and it holds at once where it was asked.
        answer = await a.call("POST", "/signout", token=during.access)
        assert (answer.status, answer.code) == (503, "service_unavailable")
        assert await a.whoami(during.access) == 401
        await asyncio.sleep(0.5)
        cluster.redis.start()  # empty: --save ""
        for api in (a, b):
            await ready(api)
        # /readyz says what requests see: sign-ins (lockout counters in Redis) work at once.
        answers = await asyncio.gather(*(api.signin(email) for api in (a, b) for email in people))
        assert [x.status for x in answers] == [200] * 20
        assert (await b.call("POST", "/signout", token=after.access)).status == 204
        await asyncio.sleep(0.5)

    late = await cluster.add_instance()
    for api in (a, b, late):
        for session in (before, during, after):
            await eventually(api, session.access, 401)
        await _cannot_outlive_its_session(api, before.access, before.refresh)
    assert traffic.unexpected() == {}
    assert traffic.count(201) > 0
    assert traffic.count(503) > 0
    await assert_signups_whole(cluster, traffic.created)
    assert errors_logged(caplog) == []


async def test_a_flushed_store_under_two_instances_changes_nothing_for_a_third(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = cluster.instances
    gone = await cluster.session(a, "gone@example.com")
    kept = await cluster.session(b, "kept@example.com")
    assert (await b.call("POST", "/signout", token=gone.access)).status == 204
    # A key B has cached, then revoked where no announcement tells B (only PostgreSQL knows);
    # likewise a session.  Losing the store's state makes B re-read both.
    body = {"name": "ci", "type": "secret", "scopes": []}
    key = (await a.call("POST", "/api-keys", body, token=kept.access)).body["key"]
    assert await _key_status(b, key) == 200
    quiet = await cluster.session(a, "quiet@example.com")
    assert await b.whoami(quiet.access) == 200
    await cluster.fetch("UPDATE rowgate.api_keys SET revoked_at = now()")
    await cluster.fetch("UPDATE rowgate.sessions SET revoked_at = now() WHERE id = $1", _sid(quiet.access))
    async with Traffic(cluster.instances) as traffic:
        await asyncio.sleep(0.3)
        cluster.redis.flush()
        await asyncio.sleep(0.5)
        third = await cluster.add_instance()
        await asyncio.sleep(0.3)
    for api in (a, b, third):
        await _cannot_outlive_its_session(api, gone.access, gone.refresh)
        await eventually(api, quiet.access, 401)
        assert await _key_status(api, key) == 401
        assert await api.whoami(kept.access) == 200
    assert traffic.unexpected() == {}
    await assert_signups_whole(cluster, traffic.created)
    assert errors_logged(caplog) == []
