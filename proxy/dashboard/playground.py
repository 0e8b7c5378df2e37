"""The policy playground: a statement in, the rewritten statement and each table's rules out.

It runs in the admin's own organisation only, as a role that organisation knows, optionally as one
of its members (else as the admin), through the rewriter ``POST /v1/sql`` uses; nothing is ever
run.  A statement the rewriter refuses is shown with its code and message.  The form is a POST
with the CSRF token (a statement can be long; the answer is not worth caching in history), and
the statement is capped at ``MAX_SQL`` characters.
"""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.ids import canonical_uuid
from rowgate.errors import BadRequest
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.dashboard.guard import form_of
from rowgate.proxy.dashboard.page import Page, Route
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.session import Admin
from rowgate.proxy.data import playground
from rowgate.proxy.data.playground import MAX_SQL, Trial

EXAMPLE = "SELECT id, title, done FROM tasks WHERE priority > 1 ORDER BY created_at DESC LIMIT 20"


async def view(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    offered = await playground.roles(request.app[SERVICES].tenancy.catalog, actor.org_id)
    return _page(request, admin, offered, {"sql": EXAMPLE, "role": _default_role(offered), "user": ""})


async def explain(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    services = request.app[SERVICES]
    catalog = services.tenancy.catalog
    offered = await playground.roles(catalog, actor.org_id)
    form = form_of(request)
    values = {name: form.get(name, "") for name in ("sql", "role", "user")}
    sql = playground.statement(values["sql"])
    if values["role"] not in offered:
        raise BadRequest(f"role: expected one of {', '.join(offered)}.", code="invalid_role")
    user_id = await _member(request, actor.org_id, values["user"].strip()) or actor.user_id
    trial = await playground.try_statement(
        services.data, catalog, services.settings, actor.org_id, values["role"], user_id, sql
    )
    return _page(request, admin, offered, values, trial)


async def _member(request: web.Request, org_id: str, text: str) -> str | None:
    """The member of ``org_id`` named by id or email address; 400 for anyone else."""
    if not text:
        return None
    user = canonical_uuid(text)
    found = await request.app[SERVICES].db.fetchval(
        "SELECT u.id::text FROM rowgate.users u JOIN rowgate.memberships m ON m.user_id = u.id "
        "WHERE m.org_id = $1::uuid AND (u.id = $2::uuid OR ($2::uuid IS NULL AND u.email = lower($3)))",
        org_id,
        user,
        text[:320],
    )
    if found is None:
        raise BadRequest(
            "user: not a member of this organisation (give an email or an id).", code="invalid_user"
        )
    return str(found)


def _default_role(offered: list[str]) -> str:
    return "member" if "member" in offered else offered[0]


def _page(
    request: web.Request,
    admin: Admin,
    offered: list[str],
    values: dict[str, str],
    trial: Trial | None = None,
) -> web.StreamResponse:
    return render(
        request,
        admin,
        "playground.html",
        title="Policy playground",
        roles=offered,
        values=values,
        trial=trial,
        max_sql=MAX_SQL,
    )


PAGE = Page(
    "/playground",
    "Policy playground",
    view,
    routes=(
        Route(
            "POST",
            "/playground",
            explain,
            "Rewrite a statement as a role (never run)",
            form=("sql", "role", "user"),
        ),
    ),
)
