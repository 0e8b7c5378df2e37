"""Row-level security: YAML policies and a sqlglot rewriter that confines every query to its caller.

Usable on its own (it imports nothing of rowgate's but ``config``)::

    from rowgate.rls.policy import load_policies
    from rowgate.rls.introspect import introspect
    from rowgate.rls.rewrite import Rewriter
    from rowgate.rls.subject import Subject
    from rowgate.proxy.data.execute import run

    policies = load_policies("config/policies.yaml")
    rewriter = Rewriter(policies, "postgres", schema=await introspect(conn))
    subject = Subject(user_id=user, tenant_id=org, groups=frozenset({"user"}), role="member")
    rewritten = rewriter.rewrite("SELECT * FROM tasks WHERE id = $1", subject, params_count=1)
    result = await run(conn, rewritten, subject, [task_id])   # rows, status, rowcount

``rewrite`` raises ``rowgate.errors.QueryRefused`` (400) for statements that cannot run and
``WriteRefused`` (403) for writes the policy forbids, each with a stable ``code``; nothing else.
``run`` raises ``WriteRefused`` for a new row the database refused (rowgate's run-time checks,
or native policies as a second layer).  Running ``rewritten.sql`` yourself is fine: bind
``*your_params, *rewritten.params`` and drop the rows when ``rewritten.discard_rows`` is set, on
a connection with ``standard_conforming_strings`` on (the lexing rowgate verified the text with).

Modules.  The engine: ``policy`` (the YAML model), ``filters`` (policy filter expressions),
``subject``, ``grants`` (what a subject may do with a table), ``functions`` (the allowlist),
``names`` (identifiers as each dialect folds them), ``schema`` (tables and columns),
``rewrite`` and ``rules/`` (the rewriter, one rule per module, the verifier ``verify`` last),
``roundtrip`` (the verified tree printed and read back: the text that runs is the tree that was
checked), ``context``, ``sources``, ``pushdown`` (what may move inside a filter), ``clone`` (cheap tree
copies), ``writes``, ``newrow`` and ``raising`` (WITH CHECK, statically and at run time),
``template`` (the cache), ``export`` (native policies), ``introspect`` and ``execute`` (the
asyncpg edge: ``run``, ``execute`` in a transaction of your own, ``begin_sql``), ``cli`` and
``testcases`` (``rowgate policy ...``).

The data API's pure parts, also usable on their own: ``catalog`` (tables, column types and
primary keys read from PostgreSQL), ``restquery`` (the REST query-string grammar), ``rest``
(REST requests built into SQL over the plain table, for the rewriter), ``values`` (JSON and text
values converted to column types before any SQL runs) and ``openapi`` (the OpenAPI document
generated from the policy and the catalog).
"""
