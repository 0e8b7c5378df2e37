"""The real mix against a running rowgate and its app, for locust.

Three kinds of users: a browser user (signs up once, then signs in, refreshes, reads and writes
tasks through the data API and ``/v1/sql``, and calls the app through the proxy), an integration
holding a secret API key (created by its own admin when it starts), and a guest on public routes.
Request names are grouped per endpoint (``/v1/data/tasks/{id}``), and any status other than the
expected one counts as a failure. Works against ``rowgate demo`` and ``rowgate serve`` with the
demo app and its tables (``python loadtests/locust_target.py`` starts that)::

    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8080

Every user sends ``X-Forwarded-For`` with an address of its own: a rowgate that trusts the load
generator (``server.trusted_proxies``) then sees many clients, as in production, each with its own
sign-up, sign-in and IP budgets (``ROWGATE_TRUSTED_PROXIES=127.0.0.1 rowgate demo``); one that
does not ignores the header, and its per-address limits allow only a handful of users.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from locust import HttpUser, between, task
from locust.clients import ResponseContextManager

PASSWORD = "Correct-Horse-9"


def client_address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def expect(response: ResponseContextManager, status: int) -> dict[str, Any]:
    """The JSON body of ``response`` when its status is ``status``; else the request failed."""
    if response.status_code != status:
        response.failure(f"{response.status_code} instead of {status}: {response.text[:200]}")  # type: ignore[no-untyped-call]
        return {}
    body = response.json() if response.text else {}
    response.success()  # type: ignore[no-untyped-call]
    return body if isinstance(body, dict) else {"items": body}


class Client(HttpUser):
    """What every user shares: its own address and the checked requests."""

    abstract = True
    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        self.client.headers["X-Forwarded-For"] = client_address()

    def tour(self) -> None:
        """Each task once, in the order they are written: a first visit that touches every
        endpoint (so a short run has them all), then the weighted mix."""
        for each in dict.fromkeys(self.tasks):
            each(self)  # type: ignore[operator]

    def call(self, method: str, path: str, name: str, status: int = 200, **kwargs: Any) -> dict[str, Any]:
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            return expect(response, status)

    def sign_up(self) -> dict[str, Any]:
        """A new account (the admin of a new organisation), signed in (``mode: dev``)."""
        self.email = f"load-{uuid.uuid4().hex[:16]}@example.com"
        credentials = {"email": self.email, "password": PASSWORD}
        return self.call("POST", "/v1/auth/email/signup", "/v1/auth/email/signup", 201, json=credentials)


class BrowserUser(Client):
    """Someone using the app in a browser: tokens, their organisation's tasks, the app."""

    weight = 6

    def on_start(self) -> None:
        super().on_start()
        self.task_ids: list[str] = []
        self.use(self.sign_up())
        self.tour()

    def use(self, tokens: dict[str, Any]) -> None:
        if tokens:
            self.access, self.refresh_token = tokens["accessToken"], tokens["refreshToken"]
            self.client.headers["Authorization"] = f"Bearer {self.access}"

    @task(1)
    def sign_in(self) -> None:
        body = {"email": self.email, "password": PASSWORD}
        self.use(self.call("POST", "/v1/auth/email/signin", "/v1/auth/email/signin", json=body))

    @task(2)
    def refresh(self) -> None:
        body = {"refreshToken": self.refresh_token}
        self.use(self.call("POST", "/v1/auth/refresh", "/v1/auth/refresh", json=body))

    @task(2)
    def me(self) -> None:
        self.call("GET", "/v1/auth/me", "/v1/auth/me")

    @task(8)
    def whoami(self) -> None:
        self.call("GET", "/api/whoami", "/api/whoami")

    @task(6)
    def list_tasks(self) -> None:
        self.call("GET", "/v1/data/tasks?order=priority.desc&limit=20", "/v1/data/tasks")

    @task(3)
    def create_task(self) -> None:
        row = {"title": "load test", "priority": random.randint(1, 5)}
        created = self.call("POST", "/v1/data/tasks", "/v1/data/tasks", 201, json=row)
        if created:
            self.task_ids = [*self.task_ids[-19:], str(created["data"]["id"])]

    @task(3)
    def read_task(self) -> None:
        if self.task_ids:
            path = f"/v1/data/tasks/{random.choice(self.task_ids)}"
            self.call("GET", path, "/v1/data/tasks/{id}")

    @task(1)
    def update_task(self) -> None:
        if self.task_ids:
            path = f"/v1/data/tasks/{random.choice(self.task_ids)}"
            self.call("PATCH", path, "/v1/data/tasks/{id}", json={"priority": random.randint(1, 5)})

    @task(3)
    def sql(self) -> None:
        query = {"sql": "SELECT id, title FROM tasks WHERE priority >= $1 LIMIT 20", "params": [3]}
        self.call("POST", "/v1/sql", "/v1/sql", json=query)


class Integration(Client):
    """A back-end job with a secret API key of its own organisation (made by its admin at start)."""

    weight = 2

    def on_start(self) -> None:
        super().on_start()
        tokens = self.sign_up()
        key = {"name": "load", "type": "secret", "scopes": ["tasks:*"]}
        admin = {"Authorization": f"Bearer {tokens.get('accessToken', '')}"}
        created = self.call("POST", "/v1/auth/api-keys", "/v1/auth/api-keys", 201, json=key, headers=admin)
        self.client.headers["X-API-Key"] = created.get("key", "")
        self.tour()

    @task(3)
    def list_tasks(self) -> None:
        self.call("GET", "/v1/data/tasks?limit=50", "/v1/data/tasks (key)")

    @task(2)
    def create_task(self) -> None:
        row = {"title": "synced", "priority": 1}
        self.call("POST", "/v1/data/tasks", "/v1/data/tasks (key)", 201, json=row)

    @task(1)
    def sql(self) -> None:
        query = {"sql": "SELECT count(*) AS n FROM tasks WHERE priority = $1", "params": [1]}
        self.call("POST", "/v1/sql", "/v1/sql (key)", json=query)


class Guest(Client):
    """A visitor without an account: the app's public page and the published posts."""

    weight = 2

    def on_start(self) -> None:
        super().on_start()
        self.tour()

    @task(3)
    def hello(self) -> None:
        self.call("GET", "/public/hello", "/public/hello")

    @task(2)
    def posts(self) -> None:
        self.call("GET", "/v1/data/posts?limit=20", "/v1/data/posts")
