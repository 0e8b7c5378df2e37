"""The data API, its own package over the RLS engine (``rowgate.rls``, which never imports it).

REST: ``restquery`` (the query-string grammar), ``values`` (JSON and text values checked against
column types), ``catalog`` (columns, types and primary keys read from PostgreSQL), ``restsql``
(REST requests built into SQL for the rewriter), ``openapi`` (the document), ``rest`` (the
service) and ``handlers_rest`` (HTTP).  SQL: ``sql`` (the service) and ``handlers_sql`` (HTTP).
Running: ``execute`` and ``bounded`` (statements on asyncpg, answers of bounded size), ``runner``
(one transaction per request), ``pgerrors`` (PostgreSQL errors as problems).  Policy: ``policy``
(the enforced snapshot), ``reload``, ``service`` (start-up), ``access`` (table permissions),
``policy_cli`` and ``testcases`` (``rowgate policy ...``).  Upstream routes: ``upstream_sql``
and ``owner``; ``demo`` creates the demo's tables.
"""
