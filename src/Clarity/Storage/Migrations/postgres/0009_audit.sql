-- The audit log: one entry per state-changing action, written in the change's own transaction. Each org's entries
-- (and the instance's own, chain_id = the all-zero uuid) form a hash chain. Writers insert entries unchained (seq,
-- hash and position NULL), so an org's unrelated writes are never serialised; the leader's chainer takes
-- audit_state's row lock and chains committed entries in id order: per chain seq 1, 2, 3, ... and
--   hash = SHA-256(prev_hash || seq as 8 bytes big-endian || digest), digest = SHA-256(entry's UTF-8 bytes).
-- position is the global order of chaining (the cursor of consumers). Retention sets entry = NULL and pruned_at and
-- keeps digest and hash: a tombstone, so the chain still verifies.
CREATE TABLE audit_entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_id uuid NOT NULL,
    seq BIGINT,
    position BIGINT,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id uuid,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    entry TEXT,
    digest bytea NOT NULL,
    hash bytea,
    pruned_at BIGINT
);
CREATE UNIQUE INDEX audit_entries_chain_seq ON audit_entries(chain_id, seq);
CREATE UNIQUE INDEX audit_entries_position ON audit_entries(position);
CREATE INDEX audit_entries_unchained ON audit_entries(id) WHERE seq IS NULL;
-- The list's filters: newest first within a chain, by actor, action, target, and time (retention).
CREATE INDEX audit_entries_chain_id ON audit_entries(chain_id, id);
CREATE INDEX audit_entries_actor ON audit_entries(chain_id, actor_id, id);
CREATE INDEX audit_entries_action ON audit_entries(chain_id, action, id);
CREATE INDEX audit_entries_target ON audit_entries(chain_id, target_type, target_id, id);
CREATE INDEX audit_entries_at ON audit_entries(at) WHERE entry IS NOT NULL;

CREATE TABLE audit_state (
    last_position BIGINT NOT NULL
);
INSERT INTO audit_state (last_position) VALUES (0);

-- Reading the audit log is a permission of its own, held by owners and admins.
INSERT INTO role_permissions (role_id, permission) VALUES
    ('00000000-0000-0000-0000-000000000003', 'audit:read'),
    ('00000000-0000-0000-0000-000000000004', 'audit:read');
