"""Identity: passwords, tokens, sessions, flows, API keys, tenancy, storage and the ephemeral store."""
