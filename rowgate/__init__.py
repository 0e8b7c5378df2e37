"""rowgate: a self-hosted auth sidecar (auth server, auth proxy, SQL row-level security).

The package's parts live in the repository's top-level folders and are installed under this one
name, so that nothing generic lands at the top of site-packages::

    rowgate.config   typed settings, YAML loading, the bundled rowgate.yaml and policies.yaml
    rowgate.auth     identity: passwords, tokens, sessions, API keys, organisations, roles, mail
    rowgate.rls      the row-level security engine (policies, the sqlglot rewriter, native export)
    rowgate.proxy    the aiohttp application: the pipeline, rowgate's endpoints, the data API, the CLI
    rowgate.errors   every error rowgate raises on purpose, one tree, free of HTTP (this folder)

``rowgate/`` holds this file, ``errors.py`` and one link per part (``rowgate/rls`` → ``rls/``).
Importing ``rowgate`` imports nothing else, so ``rowgate.rls`` runs with only sqlglot installed.
"""
