-- Web push subscriptions: one row per device (browser) a user turned notifications on for. The endpoint is the push
-- service's URL for that device and is unique per user (subscribing again updates the row); p256dh and auth are the
-- browser's encryption keys (RFC 8291), base64url. failure_count counts failed sends in a row (a success resets it);
-- a 404/410 from the push service, or too many failures, deletes the row.
CREATE TABLE push_subscriptions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    user_agent TEXT,
    created_at BIGINT NOT NULL,
    last_success_at BIGINT,
    failure_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX push_subscriptions_user_endpoint ON push_subscriptions(user_id, endpoint);
CREATE INDEX push_subscriptions_endpoint ON push_subscriptions(endpoint);
