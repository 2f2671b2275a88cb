-- Clarity core schema (PostgreSQL). Ids are UUIDv7 uuid; times are UTC epoch milliseconds.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE orgs (
    id uuid PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id uuid NOT NULL REFERENCES orgs(id),
    user_id uuid NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_by uuid,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_org ON api_keys(org_id, id);

CREATE TABLE agents (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    queue TEXT NOT NULL,
    title TEXT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    labels TEXT NOT NULL DEFAULT '[]',
    priority BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    timeout_seconds BIGINT NOT NULL,
    idempotency_key TEXT,
    agent_id uuid,
    lease_token_hash TEXT,
    lease_expires_at BIGINT,
    lease_seconds BIGINT,
    deadline_at BIGINT,
    awaiting_since BIGINT,
    log_seq BIGINT NOT NULL DEFAULT 0,
    run_id uuid,
    step_id TEXT,
    created_by uuid,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
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
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id uuid NOT NULL,
    task_id uuid NOT NULL,
    seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    level TEXT NOT NULL,
    stream TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE UNIQUE INDEX task_logs_task_seq ON task_logs(task_id, seq);

-- Full-text search: a stored tsvector with a GIN index ('simple' configuration: no stemming, any language).
ALTER TABLE task_logs ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;
CREATE INDEX task_logs_fts ON task_logs USING gin (text_tsv);
CREATE INDEX task_logs_org_id ON task_logs(org_id, id);

CREATE TABLE clarifications (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    task_id uuid NOT NULL REFERENCES tasks(id),
    question TEXT NOT NULL,
    options TEXT,
    status TEXT NOT NULL,
    on_expiry TEXT NOT NULL,
    default_answer TEXT,
    answer TEXT,
    answered_by uuid,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX clarifications_org_status ON clarifications(org_id, status, id);
CREATE INDEX clarifications_task ON clarifications(task_id);
CREATE INDEX clarifications_expiry ON clarifications(expires_at) WHERE status = 'pending';
