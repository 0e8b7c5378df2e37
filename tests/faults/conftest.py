"""The fault suite's world: rowgate instances sharing a private PostgreSQL and a private Redis
(started by the test, on their own port or socket), a demo upstream, and traffic running beside
the faults."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rowgate.config import DEFAULT_CONFIG, Settings, load_settings
from rowgate.proxy.demo import build_demo_app
from tests.proxy.authkit import FAST, ROUTES, Answer, Api, Start, StartApp
from tests.servers import PrivatePostgres, PrivateRedis

#: Answers the traffic may get while a dependency is away: anything else (a 500 above all) fails.
EXPECTED = frozenset({200, 201, 204, 503})


@dataclass
class Session:
    """A signed-in user: the token pair of one session."""

    email: str
    access: str
    refresh: str


@dataclass
class Cluster:
    """Rowgate instances on one private PostgreSQL and one private Redis."""

    redis: PrivateRedis
    postgres: PrivatePostgres
    http: aiohttp.ClientSession
    settings: Settings
    start: Start
    instances: list[Api] = field(default_factory=list)

    async def add_instance(self) -> Api:
        api = Api(self.http, await self.start(self.settings))
        self.instances.append(api)
        return api

    async def session(self, api: Api, email: str) -> Session:
        answer = await api.signup(email)
        assert answer.status == 201, answer.body
        return Session(email, answer.body["accessToken"], answer.body["refreshToken"])

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return await self.postgres.fetch(query, *args)


@pytest.fixture
async def cluster(
    private_postgres: PrivatePostgres,
    private_redis: PrivateRedis,
    start_rowgate: Start,
    start_app: StartApp,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> Cluster:
    upstream = await start_app(build_demo_app())
    settings = load_settings(
        DEFAULT_CONFIG,
        overrides={
            **FAST,
            **ROUTES,
            "database.url": private_postgres.url,
            "redis.url": private_redis.url,
            "redis.key_prefix": "rowgate:",
            "redis.state_check_interval": "200ms",
            "upstream.url": upstream,
            "data_dir": str(tmp_path / "data"),
            "server.port": 0,
            "logging.access_log": False,
            # Every request comes from 127.0.0.1: the per-IP limits would be the first thing hit.
            "auth.rate_limits.signup": {"limit": 100_000, "window": "1h"},
            "auth.rate_limits.signin": {"limit": 100_000, "window": "1m"},
        },
        environ={},
    )
    found = Cluster(private_redis, private_postgres, http, settings, start_rowgate)
    for _ in range(2):
        await found.add_instance()
    return found


class Traffic:
    """Clients signing up, calling the upstream, refreshing and signing in on every instance
    until stopped; every answer is counted, every address answered 201 remembered."""

    def __init__(self, instances: list[Api], workers: int = 3) -> None:
        self.instances = list(instances)
        self.answers: Counter[tuple[str, int]] = Counter()
        self.created: list[str] = []
        self._workers = workers
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Traffic:
        self._tasks = [asyncio.create_task(self._run(n)) for n in range(self._workers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopped.set()
        await asyncio.gather(*self._tasks)

    def unexpected(self) -> dict[tuple[str, int], int]:
        return {key: n for key, n in self.answers.items() if key[1] not in EXPECTED}

    def count(self, status: int) -> int:
        return sum(n for (_, code), n in self.answers.items() if code == status)

    async def _run(self, worker: int) -> None:
        turn = 0
        while not self._stopped.is_set():
            turn += 1
            api, other = random.sample(self.instances, 2)
            email = f"traffic-{worker}-{turn}-{random.randrange(10**9)}@example.com"
            answer = self._seen("signup", await api.signup(email))
            if answer.status == 201:
                self.created.append(email)
                self.answers[("whoami", await other.whoami(answer.body["accessToken"]))] += 1
                refreshed = await other.call(
                    "POST", "/refresh", {"refreshToken": answer.body["refreshToken"]}
                )
                self._seen("refresh", refreshed)
                self._seen("signin", await other.signin(email))
            await asyncio.sleep(0.02)

    def _seen(self, what: str, answer: Answer) -> Answer:
        self.answers[(what, answer.status)] += 1
        if answer.status >= 500:
            assert answer.status == 503, (what, answer.status, answer.body)
            assert answer.headers["Content-Type"] == "application/problem+json", answer.body
        return answer


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines at error level or above (an unhandled error is always logged at that level)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def eventually(api: Api, token: str, status: int, seconds: float = 20) -> None:
    """Wait until ``token`` gets ``status`` from the upstream through ``api``."""
    async with asyncio.timeout(seconds):
        while await api.whoami(token) != status:
            await asyncio.sleep(0.05)


async def ready(api: Api, seconds: float = 30) -> None:
    """Wait until ``/readyz`` answers 200."""
    async with asyncio.timeout(seconds):
        while True:
            async with api.http.get(f"{api.server.url}/readyz") as response:
                if response.status == 200:
                    return
            await asyncio.sleep(0.05)


async def assert_signups_whole(cluster: Cluster, created: list[str]) -> None:
    """Every address answered 201 is an account with its organisation; no account, organisation or
    membership is half-written."""
    rows = await cluster.fetch(
        "SELECT u.email, count(m.org_id) AS orgs FROM rowgate.users u "
        "LEFT JOIN rowgate.memberships m ON m.user_id = u.id GROUP BY u.email"
    )
    orgs = {row["email"]: row["orgs"] for row in rows}
    assert [email for email in created if email not in orgs] == []
    assert [email for email, count in orgs.items() if count != 1] == []
    orphans = await cluster.fetch(
        "SELECT o.id FROM rowgate.orgs o WHERE NOT EXISTS "
        "(SELECT 1 FROM rowgate.memberships m WHERE m.org_id = o.id)"
    )
    assert orphans == []
