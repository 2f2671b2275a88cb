-- Failed sign-in and setup attempts per account and per client address (see Features/Identity/SignInThrottle.cs).
-- subject is a SHA-256 (hex) of "account:<email>" or "address:<client address>"; times are Unix milliseconds.
CREATE TABLE sign_in_throttle (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL,
    next_allowed_at BIGINT NOT NULL
);
CREATE INDEX sign_in_throttle_last_failure ON sign_in_throttle(last_failure_at);

-- The API's token buckets shared by all nodes (see Hosting/RateLimiting/ApiRateLimiter.cs): the level at updated_at
-- (the database's clock, Unix milliseconds), negative while in debt; rate and burst are the settings last pushed.
CREATE TABLE rate_limit_buckets (
    bucket TEXT PRIMARY KEY,
    level DOUBLE PRECISION NOT NULL,
    rate DOUBLE PRECISION NOT NULL,
    burst DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL
);
