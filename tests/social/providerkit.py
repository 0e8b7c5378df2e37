"""The identity providers the social sign-in tests sign in at.

``oidc_provider`` runs node-oidc-provider (the npm package ``oidc-provider``, a certified OpenID
Connect implementation nobody here wrote) on a local port, with one client registered for rowgate.
``Browser`` walks its development login and consent pages over HTTP like a user would.
``github_stand_in`` is a small stand-in (not GitHub) for the three GitHub endpoints rowgate calls.
"""

from __future__ import annotations

import contextlib
import re
import select
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.app import build_app
from rowgate.proxy.server import start as start_server
from tests.auth.mail.smtpkit import free_port
from tests.conftest import RunningServer

PROVIDER_DIR = Path(__file__).parent / "provider"
CLIENT_ID = "rowgate-test"
CLIENT_SECRET = "rowgate-test-client-secret-that-is-long"
SECRET_ENV = "ROWGATE_TEST_OIDC_SECRET"
APP = "https://app.example.com/signed-in"


def install_provider() -> None:
    """``npm ci`` the provider's pinned packages once (CI does it in .ci/run already)."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        return
    npm = shutil.which("npm")
    assert npm, "the social sign-in tests need Node.js and npm (see .ci/run)"
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, capture_output=True)


@contextlib.contextmanager
def oidc_provider(port: int, redirect_uri: str) -> Iterator[str]:
    """Run the provider on ``port`` until the block ends; its issuer URL.  A plain process, not
    tied to an event loop, so that one provider can serve the tests of a module."""
    install_provider()
    node = shutil.which("node")
    assert node
    process = subprocess.Popen(
        [node, "server.mjs", str(port), CLIENT_ID, CLIENT_SECRET, redirect_uri],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else b""
        assert line == b"ready\n", line
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


@dataclass
class Rowgate:
    """A rowgate on a port chosen before it starts (the provider must know its callback URL)."""

    port: int = field(default_factory=free_port)
    runners: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def callback(self, provider: str) -> str:
        return f"{self.url}/v1/auth/{provider}/callback"

    async def start(self, settings: Settings) -> RunningServer:
        app = build_app(settings)
        runner, _ = await start_server(app, settings, host="127.0.0.1", port=self.port)
        self.runners.append(runner)
        return RunningServer(self.url, app)

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()


@dataclass
class Browser:
    """A cookie-keeping HTTP client that follows redirects by hand and fills the provider's forms."""

    http: aiohttp.ClientSession
    pages: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls) -> AsyncIterator[Browser]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield cls(http)

    async def authorize(self, rowgate: str, provider: str, **query: str) -> str:
        """Open rowgate's authorize URL; the provider URL it redirects to."""
        async with self.http.get(
            f"{rowgate}/v1/auth/{provider}/authorize", params=query, allow_redirects=False
        ) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]

    async def sign_in_at_provider(self, url: str, stop_at: str, login: str = "ada") -> str:
        """Follow redirects, signing in as ``login`` and consenting, until one leads to ``stop_at``."""
        for _ in range(20):
            if url.startswith(stop_at):
                return url
            async with self.http.get(url, allow_redirects=False) as response:
                if response.status in (302, 303):
                    url = urljoin(url, response.headers["Location"])
                    continue
                page = await response.text()
                assert response.status == 200, page
            url = await self._submit(url, page, login)
        raise AssertionError("the provider never redirected back")

    async def _submit(self, url: str, page: str, login: str) -> str:
        action = re.search(r'<form[^>]*action="([^"]+)"', page)
        prompt = re.search(r'name="prompt" value="(\w+)"', page)
        assert action, page
        assert prompt, page
        form = {"prompt": prompt.group(1)}
        if prompt.group(1) == "login":
            form |= {"login": login, "password": "any"}
        async with self.http.post(
            urljoin(url, action.group(1)), data=form, allow_redirects=False
        ) as response:
            assert response.status in (302, 303), await response.text()
            return urljoin(url, response.headers["Location"])

    async def open_callback(self, url: str, **kwargs: Any) -> tuple[int, str, Any]:
        """Open rowgate's callback: status, Location (or ''), and the problem body if any."""
        async with self.http.get(url, allow_redirects=False, **kwargs) as response:
            body = await response.json() if "json" in response.headers.get("Content-Type", "") else None
            return response.status, response.headers.get("Location", ""), body


def code_of(location: str) -> str:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == APP
    query = parse_qs(parts.query)
    assert set(query) == {"code"}, query
    return query["code"][0]


def github_stand_in(users: dict[str, dict[str, Any]]) -> web.Application:
    """A stand-in (not GitHub) for GitHub's token endpoint, ``GET /user`` and ``GET /user/emails``,
    answering in GitHub's shapes.  ``users`` maps a code to ``{"id", "name", "emails"}``; an
    authorize URL is not served (the test reads ``state`` from rowgate's redirect and calls the
    callback as GitHub would)."""
    tokens: dict[str, dict[str, Any]] = {}

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        user = users.get(str(form.get("code")))
        if user is None or form.get("client_secret") != CLIENT_SECRET or not form.get("code_verifier"):
            return web.json_response({"error": "bad_verification_code"})
        access = f"gho_{form['code']}"
        tokens[access] = user
        return web.json_response(
            {"access_token": access, "token_type": "bearer", "scope": "read:user,user:email"}
        )

    def holder(request: web.Request) -> dict[str, Any] | None:
        return tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

    async def user(request: web.Request) -> web.Response:
        found = holder(request)
        if found is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"id": found["id"], "login": f"user{found['id']}", "name": found["name"]})

    async def emails(request: web.Request) -> web.Response:
        found = holder(request)
        if found is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response(found["emails"])

    app = web.Application()
    app.router.add_post("/login/oauth/access_token", token)
    app.router.add_get("/user", user)
    app.router.add_get("/user/emails", emails)
    return app


def redirect_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
