"""Helpers for the identity tests over HTTP: a running rowgate with a demo upstream, and a client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from pydantic.alias_generators import to_camel

from rowgate.auth.mail.backends import links_in
from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from tests.conftest import CHEAP_ARGON2, RunningServer

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

#: ``CHEAP_ARGON2`` (its longest ``max_wait`` too: settings loaded without ``make_settings``, as the
#: fault suite's, would otherwise meet admission control on a busy machine) and a quick mail poll.
FAST = {**CHEAP_ARGON2, "mail.poll_interval": "100ms"}
ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/public/**", "level": "public"},
        {"path": "/api/**", "level": "authenticated"},
    ],
}
PASSWORD = "Correct-Horse-42"
AGENT = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass
class Api:
    """JSON calls to one rowgate server's auth endpoints."""

    http: aiohttp.ClientSession
    server: RunningServer

    @property
    def base(self) -> str:
        return f"{self.server.url}/v1/auth"

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, **kwargs: Any
    ) -> Answer:
        headers = {**AGENT, **kwargs.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else f"{self.base}{path}"
        if body is not None:
            kwargs["json"] = body
        async with self.http.request(method, url, headers=headers, **kwargs) as response:
            raw = await response.read()
            content_type = response.headers.get("Content-Type", "")
            parsed: Any = raw.decode()
            if "json" in content_type and raw:
                parsed = await response.json(content_type=None)
            return Answer(response.status, dict(response.headers), parsed)

    async def signup(self, email: str, password: str = PASSWORD, **extra: Any) -> Answer:
        fields = {to_camel(name): value for name, value in extra.items()}  # org_name= → orgName
        return await self.call("POST", "/email/signup", {"email": email, "password": password, **fields})

    async def signin(self, email: str, password: str = PASSWORD) -> Answer:
        return await self.call("POST", "/email/signin", {"email": email, "password": password})

    async def whoami(self, token: str) -> int:
        """Status of a proxied request to the upstream with ``token``."""
        async with self.http.get(
            f"{self.server.url}/api/whoami", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            return r.status


def mails(server: RunningServer, to: str | None = None, subject: str = "") -> list[EmailMessage]:
    """Messages the file backend wrote (to ``to``, with ``subject`` in their subject)."""
    folder = server.app[SERVICES].settings.data_dir / "mail"
    found = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in sorted(folder.glob("*.eml"))]
    return [
        m
        for m in found
        if isinstance(m, EmailMessage) and (to is None or m["To"] == to) and subject in str(m["Subject"])
    ]


async def delivered(server: RunningServer, to: str, subject: str, count: int = 1) -> list[EmailMessage]:
    """The messages to ``to`` with ``subject`` in their subject once at least ``count`` arrived
    (the background sender may be delivering them right now, so this sends what is due and waits)."""
    async with asyncio.timeout(10):
        while True:
            await server.app[SERVICES].mail.run_once()
            found = mails(server, to, subject)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


def token_of(message: EmailMessage) -> str:
    (link,) = links_in(message)
    return parse_qs(urlsplit(link).query)["token"][0]


def link_of(message: EmailMessage) -> str:
    (link,) = links_in(message)
    return link
