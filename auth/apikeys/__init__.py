"""API keys: tenant-scoped secret and publishable keys, their cache, usage and management."""
