"""Row-level security: YAML policies and a sqlglot rewriter that confines every query to its caller.

Usable on its own (it imports nothing of rowgate's but ``config``)::

    from rls.policy import load_policies
    from rls.introspect import introspect
    from rls.rewrite import Rewriter
    from rls.subject import Subject
    from rls.execute import run

    policies = load_policies("config/policies.yaml")
    rewriter = Rewriter(policies, "postgres", schema=await introspect(conn))
    subject = Subject(user_id=user, tenant_id=org, groups=frozenset({"user"}), role="member")
    rewritten = rewriter.rewrite("SELECT * FROM tasks WHERE id = $1", subject, params_count=1)
    result = await run(conn, rewritten, subject, [task_id])   # rows, status, rowcount

``rewrite`` raises ``config.errors.QueryRefused`` (400) for statements that cannot run and
``WriteRefused`` (403) for writes the policy forbids, each with a stable ``code``; nothing else.

Modules: ``policy`` (the YAML model), ``subject``, ``grants`` (what a subject may do with a
table), ``functions`` (the allowlist), ``rewrite`` and ``rules/`` (the rewriter, one rule per
module, the verifier last), ``newrow`` and ``raising`` (WITH CHECK), ``template`` (the cache),
``export`` (native policies), ``introspect`` and ``execute`` (the asyncpg edge), ``cli`` and
``testcases`` (``rowgate policy ...``).
"""
