"""Row-level security: policies and a sqlglot rewriter that confines every query to its caller.

The engine: it needs sqlglot and nothing of rowgate's but ``rowgate.errors`` (PyYAML only to read
a policy file, asyncpg only for ``introspect`` and ``wall``, which talk to PostgreSQL)::

    from rowgate.rls.policy import parse_policies
    from rowgate.rls.rewrite import Rewriter
    from rowgate.rls.subject import Subject

    policies = parse_policies({"tables": {"tasks": {"tenant_column": "org_id", "select": ["user"]}}})
    rewriter = Rewriter(policies, "postgres", schema={"tasks": ["id", "org_id", "title"]})
    subject = Subject(user_id=user, tenant_id=org, groups=frozenset({"user"}), role="member")
    rewritten = rewriter.rewrite("SELECT * FROM tasks WHERE id = $1", subject, params_count=1)

``rewrite`` raises ``rowgate.rls.errors.QueryRefused`` for statements that cannot run and
``WriteRefused`` for writes the policy forbids, each with a stable ``code`` and no HTTP status;
nothing else.  Running ``rewritten.sql`` yourself is fine: bind ``*your_params, *rewritten.params``
and drop the rows when ``rewritten.discard_rows`` is set, on a connection with
``standard_conforming_strings`` on (the lexing rowgate verified the text with).  The data API
(``rowgate.proxy.data``: ``execute.run`` and ``begin_sql``) is rowgate's own runner on asyncpg.

Modules: ``policy`` and ``policy_file`` (the policy model, and the file as written, checked key
by key), ``errors`` (the refusals), ``filters`` (policy filter expressions), ``subject``, ``grants``
(what a subject may do with a table), ``functions`` (the allowlist), ``names`` (identifiers as
each dialect folds them), ``schema`` (tables and columns), ``rewrite`` and ``rules/`` (the
rewriter, one rule per module, the verifier ``verify`` last), ``roundtrip`` (the verified tree
printed and read back: the text that runs is the tree that was checked), ``context``, ``sources``,
``pushdown`` (what may move inside a filter), ``clone`` (cheap tree copies), ``writes``, ``newrow``
and ``raising`` (WITH CHECK, statically and at run time), ``owners``, ``fences``, ``template``
(the cache), ``export`` (native policies and the second wall's plan), ``wall`` (the second wall
in a live database) and ``introspect`` (the tables a database has).
"""
