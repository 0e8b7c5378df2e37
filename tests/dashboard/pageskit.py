"""The dashboard over plain HTTP, as a browser without JavaScript would use it: a cookie jar, the
sign-in form, and forms posted with the CSRF token of the page they came from."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from tests.proxy.authkit import AGENT, PASSWORD

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Seen:
    """One answer: status, headers and the HTML (or NDJSON) text."""

    status: int
    headers: dict[str, str]
    text: str

    @property
    def words(self) -> str:
        """The page's text without tags, entities decoded, whitespace folded: what a reader sees."""
        return " ".join(html.unescape(_TAG.sub(" ", self.text)).split())


@dataclass
class Visitor:
    """One browser: its cookies, and the CSRF token of the last page that had a form."""

    http: aiohttp.ClientSession
    base: str
    csrf: str = ""

    async def get(self, path: str, **params: str) -> Seen:
        async with self.http.get(self.base + path, params=params or None, headers=AGENT) as response:
            return self._saw(response.status, dict(response.headers), await response.text())

    async def post(self, path: str, fields: dict[str, str], *, csrf: str | None = None) -> Seen:
        body = {**fields, "csrf": self.csrf if csrf is None else csrf}
        parts = urlsplit(self.base)
        headers = {**AGENT, "Origin": f"{parts.scheme}://{parts.netloc}"}
        async with self.http.post(self.base + path, data=body, headers=headers) as response:
            return self._saw(response.status, dict(response.headers), await response.text())

    def _saw(self, status: int, headers: dict[str, str], text: str) -> Seen:
        found = _CSRF.search(text)
        if found:
            self.csrf = html.unescape(found.group(1))
        return Seen(status, headers, text)

    async def sign_in(self, email: str, password: str = PASSWORD) -> Seen:
        await self.get("/signin")
        seen = await self.post("/signin", {"email": email, "password": password, "next": ""})
        assert seen.status == 200, seen.words
        assert "Sign out" in seen.text, seen.words
        return seen


@asynccontextmanager
async def visitor(base: str) -> AsyncIterator[Visitor]:
    """A fresh cookie jar on ``base`` (the dashboard's URL); ``unsafe``: the server is 127.0.0.1."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Visitor(http, base)


def rows(seen: Seen, kind: str) -> list[str]:
    """The text of each ``<tr class="kind">`` of a page."""
    found = re.findall(rf'<tr class="{kind}"[^>]*>(.*?)</tr>', seen.text, flags=re.S)
    return [" ".join(html.unescape(_TAG.sub(" ", row)).split()) for row in found]


#: The platform operator of the page tests (``audit.operators``).
OPERATOR = "operator@example.com"
