-- A secret API key may carry its own rate limit (``rateLimit`` when it is created or rotated):
-- ``rate_limit`` requests refilled over ``rate_window``.  Both or neither: a key without one has
-- the configured ``rate_limits.api_key``.
ALTER TABLE rowgate.api_keys
    ADD COLUMN rate_limit  integer CHECK (rate_limit BETWEEN 1 AND 1000000),
    ADD COLUMN rate_window interval CHECK (rate_window BETWEEN interval '1 second' AND interval '1 day'),
    ADD CONSTRAINT api_keys_rate_limit_whole CHECK ((rate_limit IS NULL) = (rate_window IS NULL));
