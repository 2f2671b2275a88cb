-- First-run setup happens exactly once: the single row's primary key lets one of several concurrent setups win.
CREATE TABLE setup_state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    completed_at INTEGER NOT NULL
);
INSERT INTO setup_state (singleton, completed_at) SELECT 1, MIN(created_at) FROM users HAVING COUNT(*) > 0;

-- Server-side sign-in sessions. A sign-in token names its session (the JWT's sid claim); revoking the row ends the
-- token on every node, however long its signature would still be valid.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at INTEGER,
    user_agent TEXT,
    address TEXT
);
CREATE INDEX sessions_user ON sessions(user_id, id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Invitations to join an org. Only the SHA-256 of the link's token is stored. At most one pending invitation per
-- org and email (the partial unique index), so concurrent invitations of one email have one winner.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    invited_by TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    responded_at INTEGER,
    user_id TEXT
);
CREATE UNIQUE INDEX invitations_pending ON invitations(org_id, email) WHERE status = 'pending';
CREATE INDEX invitations_email ON invitations(email) WHERE status = 'pending';
CREATE INDEX invitations_org ON invitations(org_id, id);

-- Removing a member, or lowering their role, reaches the API keys they created.
CREATE INDEX api_keys_created_by ON api_keys(org_id, created_by) WHERE created_by IS NOT NULL;
