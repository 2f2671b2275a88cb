-- Clarity core schema (SQLite). Ids are UUIDv7 text; times are UTC epoch milliseconds.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys(org_id, id);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    queue TEXT NOT NULL,
    title TEXT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    labels TEXT NOT NULL DEFAULT '[]',
    priority INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    timeout_seconds INTEGER NOT NULL,
    idempotency_key TEXT,
    agent_id TEXT,
    lease_token_hash TEXT,
    lease_expires_at INTEGER,
    lease_seconds INTEGER,
    deadline_at INTEGER,
    awaiting_since INTEGER,
    log_seq INTEGER NOT NULL DEFAULT 0,
    run_id TEXT,
    step_id TEXT,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks(org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_claim ON tasks(org_id, queue, priority DESC, id) WHERE status = 'queued';
CREATE INDEX tasks_claim_any ON tasks(org_id, priority DESC, id) WHERE status = 'queued';
CREATE INDEX tasks_org ON tasks(org_id, id);
CREATE INDEX tasks_org_status ON tasks(org_id, status, id);
CREATE INDEX tasks_agent ON tasks(agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX tasks_lease ON tasks(lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_deadline ON tasks(deadline_at) WHERE status = 'running';

CREATE TABLE task_logs (
    id INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    level TEXT NOT NULL,
    stream TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE UNIQUE INDEX task_logs_task_seq ON task_logs(task_id, seq);

-- External-content full-text index, filled per appended batch (not per row) by the log store.
CREATE VIRTUAL TABLE task_logs_fts USING fts5(text, content = 'task_logs', content_rowid = 'id', tokenize = 'unicode61');

CREATE TABLE clarifications (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    task_id TEXT NOT NULL REFERENCES tasks(id),
    question TEXT NOT NULL,
    options TEXT,
    status TEXT NOT NULL,
    on_expiry TEXT NOT NULL,
    default_answer TEXT,
    answer TEXT,
    answered_by TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    answered_at INTEGER
);
CREATE INDEX clarifications_org_status ON clarifications(org_id, status, id);
CREATE INDEX clarifications_task ON clarifications(task_id);
CREATE INDEX clarifications_expiry ON clarifications(expires_at) WHERE status = 'pending';
