"""Passwords: the policy (which ones rowgate accepts) and argon2id hashing off the event loop."""
