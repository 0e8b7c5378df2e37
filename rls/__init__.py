"""Row-level security: YAML policies and a sqlglot rewriter that confines every query to its caller."""
