"""The data API's HTTP-side services: REST and SQL over the RLS engine, the transaction runner,
PostgreSQL errors as problems, policy reload, SQL and owner checks for upstream routes."""
