"""Identity: tokens, sessions, passwords, guards, the identity flows, organisations, roles, API keys,
external issuers, PostgreSQL storage and the ephemeral store.

One package per concept; the root keeps what they all share (the principal, ids, the database and
its migrations, the audit trail, the master key) and the start-up of the tenancy services.
"""
