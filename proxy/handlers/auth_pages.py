"""The small HTML pages behind the links in rowgate's mails (when no app page is configured).

Opening a link never changes anything by itself: mail scanners fetch links to check them, and a
single-use token must survive that.  The page shows a button (verification) or a form (new
password) that posts the token back; only that post uses it.  Pages are self-contained (no
scripts, no external resources) and sent with a strict Content-Security-Policy, no referrer (the
URL holds the token), no caching and no framing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from aiohttp import web

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_FRAME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:420px;margin:48px auto;padding:0 16px;color:#1f2328}}
input,button{{font:inherit;padding:8px 10px;width:100%;box-sizing:border-box;margin:6px 0}}
button{{background:#1f6feb;color:#fff;border:0;border-radius:6px;cursor:pointer}}
.error{{color:#b42318}}</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""


def page(title: str, body: str, status: int = 200, *, form_targets: Sequence[str] = ()) -> web.Response:
    """An HTML page; ``body`` is trusted markup (escape every value put into it).

    ``form_targets``: origins a form post may be redirected to besides rowgate itself."""
    text = _FRAME.format(title=html.escape(title), body=body)
    headers = PAGE_HEADERS
    if form_targets:
        policy = PAGE_HEADERS["Content-Security-Policy"]
        targets = " ".join(["'self'", *form_targets])
        headers = {
            **PAGE_HEADERS,
            "Content-Security-Policy": policy.replace("form-action 'self'", f"form-action {targets}"),
        }
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


def message(title: str, text: str, status: int = 200) -> web.Response:
    return page(title, f"<p>{html.escape(text)}</p>", status)


def token_form(title: str, text: str, token: str, button: str, form_targets: Sequence[str]) -> web.Response:
    """A button that posts ``token`` back; the answer may redirect to one of ``form_targets``."""
    body = (
        f"<p>{html.escape(text)}</p>"
        '<form method="post"><input type="hidden" name="token" value="'
        f'{html.escape(token, quote=True)}"><button type="submit">{html.escape(button)}</button></form>'
    )
    return page(title, body, form_targets=form_targets)


def verify_form(product: str, token: str) -> web.Response:
    body = (
        f"<p>Confirm your email address for {html.escape(product)}.</p>"
        '<form method="post"><input type="hidden" name="token" value="'
        f'{html.escape(token, quote=True)}"><button type="submit">Confirm my email address</button></form>'
    )
    return page("Confirm your email address", body)


def reset_form(
    product: str, token: str, rules: Sequence[str], errors: Sequence[str] = (), status: int = 200
) -> web.Response:
    problems = "".join(f'<p class="error">{html.escape(e)}</p>' for e in errors)
    body = (
        f"<p>Choose a new password for your {html.escape(product)} account.</p>{problems}"
        f"<p>It needs: {html.escape('; '.join(rules))}.</p>"
        '<form method="post" action="reset/confirm"><input type="hidden" name="token" value="'
        f'{html.escape(token, quote=True)}">'
        '<label>New password <input type="password" name="newPassword" autocomplete="new-password" required>'
        '</label><button type="submit">Set my new password</button></form>'
    )
    return page("Choose a new password", body, status)
