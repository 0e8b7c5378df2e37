"""PostgreSQL repositories of the identity flows: small functions that run SQL on a connection.

Each takes the caller's ``asyncpg.Connection``, so that a flow can group several of them in one
transaction (``Database.transaction()``), and returns plain dataclasses, never asyncpg records.
"""
