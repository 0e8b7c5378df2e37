"""Rendering mail templates into RFC 5322 messages (pure code).

Templates are ``auth/mail/templates/<name>.txt`` (its first line ``Subject: ...``) and
``<name>.html``, with ``$placeholders`` (``string.Template``).  Values are HTML-escaped in the
HTML part; a missing value is an error, not a blank in someone's inbox.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import formatdate, make_msgid, parseaddr
from importlib import resources
from string import Template

_HTML_FRAME = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;
line-height:1.5;color:#1f2328;max-width:560px;margin:24px auto;padding:0 16px">
{body}
</body></html>
"""


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@functools.cache
def _template(name: str, kind: str) -> str:
    return (
        resources.files("rowgate.auth.mail.templates").joinpath(f"{name}.{kind}").read_text(encoding="utf-8")
    )


def render(name: str, values: Mapping[str, str]) -> Rendered:
    """The subject, text and HTML of template ``name`` filled with ``values``."""
    first, _, text = _template(name, "txt").partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"mail template {name}.txt must start with a 'Subject: ' line")
    subject = Template(first.removeprefix("Subject: ")).substitute(values)
    body_text = Template(text.lstrip("\n")).substitute(values)
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    body_html = Template(_template(name, "html")).substitute(escaped)
    frame = _HTML_FRAME.format(title=html.escape(subject), body=body_html)
    return Rendered(subject=subject, text=body_text, html=frame)


def build_message(rendered: Rendered, *, sender: str, recipient: str, domain: str | None = None) -> bytes:
    """A multipart/alternative message (text and HTML) ready for SMTP."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain or sender_domain(sender))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    policy = SMTP if recipient.isascii() else SMTPUTF8
    return message.as_bytes(policy=policy)


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def envelope_sender(sender: str) -> str:
    """The bare address of a ``Name <address>`` sender, for the SMTP envelope."""
    return parseaddr(sender)[1]


def describe_lifetime(lifetime: timedelta) -> str:
    """``30 minutes``, ``1 day``, ``2 hours``: a lifetime in words."""
    seconds = int(lifetime.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
