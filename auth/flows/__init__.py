"""The identity flows: signup, verification, sign-in, password reset and change, account deletion
(refresh and the session endpoints are in ``auth.sessions``).  Services tested without HTTP,
returning typed results; the handlers in ``proxy.handlers.auth_*`` only parse input, call them and
shape the answer (``proxy.handlers.answers``).

Every flow takes an ``Identity`` (what it needs, opened once at start-up) and a
``ClientContext`` (client IP and user agent, for rate limits, sessions and the audit trail).
"""
