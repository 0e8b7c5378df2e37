"""The identity flows: signup, verification, sign-in, refresh, sessions, password reset and
change, account deletion.  Services tested without HTTP; the handlers in ``proxy.handlers.auth_*``
only parse input, call them and shape the answer.

Every flow takes an ``Identity`` (what it needs, opened once at start-up) and a
``ClientContext`` (client IP and user agent, for rate limits, sessions and the audit trail).
"""
