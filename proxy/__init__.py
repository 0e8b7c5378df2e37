"""The aiohttp application: middlewares, the auth pipeline, handlers, the upstream forwarder, the CLI."""
