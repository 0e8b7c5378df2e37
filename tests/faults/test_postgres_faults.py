"""PostgreSQL stopped and started under two running instances with traffic: no 500s, a
revocation asked for while the database is away is refused (503) and applied nowhere until the
client retries, revocations made before and after hold on every instance (one started after the
fault included), every signup answered 201 exists whole, and ``/readyz`` says what requests see."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.conftest import (
    Cluster,
    Traffic,
    assert_signups_whole,
    errors_logged,
    eventually,
    ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_database_restart_loses_no_revocation_and_leaves_no_stale_error(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = cluster.instances
    before = await cluster.session(a, "before@example.com")
    during = await cluster.session(b, "during@example.com")
    after = await cluster.session(a, "after@example.com")
    people = [(await cluster.session(b, f"person{n}@example.com")).email for n in range(10)]
    assert (await b.call("POST", "/signout", token=before.access)).status == 204

    async with Traffic(cluster.instances) as traffic:
        await asyncio.sleep(0.5)
        await cluster.postgres.stop()
        # The revocation cannot be made durable: refused, and applied nowhere (the client retries).
        answer = await a.call("POST", "/signout", token=during.access)
        assert (answer.status, answer.code) == (503, "service_unavailable")
        assert await a.whoami(during.access) == 200
        async with a.http.get(f"{a.server.url}/readyz") as response:
            assert response.status == 503
        await asyncio.sleep(0.5)
        await cluster.postgres.start()
        for api in (a, b):
            await ready(api)
        # Once /readyz says so, requests that need the database succeed: no stale connection.
        answers = await asyncio.gather(*(api.signin(email) for api in (a, b) for email in people))
        assert [x.status for x in answers] == [200] * 20
        assert (await a.call("POST", "/signout", token=during.access)).status == 204  # the retry
        assert (await b.call("POST", "/signout", token=after.access)).status == 204
        await asyncio.sleep(0.5)

    late = await cluster.add_instance()
    for api in (a, b, late):
        for session in (before, during, after):
            await eventually(api, session.access, 401)
    assert traffic.unexpected() == {}
    assert traffic.count(201) > 0
    assert traffic.count(503) > 0
    await assert_signups_whole(cluster, traffic.created)
    assert errors_logged(caplog) == []
