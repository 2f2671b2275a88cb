-- The audit log: one entry per state-changing action, written in the change's own transaction. Each org's entries
-- (and the instance's own, chain_id = the all-zero uuid) form a hash chain. SQLite's single writer chains inline:
-- inside the unit of work it reads the chain's last (seq, hash) and inserts with the next seq, the hash
--   hash = SHA-256(prev_hash || seq as 8 bytes big-endian || digest), digest = SHA-256(entry's UTF-8 bytes),
-- and position = the last position + 1 (the global order of chaining, the cursor of consumers). Retention sets
-- entry = NULL and pruned_at and keeps digest and hash: a tombstone, so the chain still verifies.
CREATE TABLE audit_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id TEXT NOT NULL,
    seq INTEGER,
    position INTEGER,
    at INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    entry TEXT,
    digest BLOB NOT NULL,
    hash BLOB,
    pruned_at INTEGER
);
CREATE UNIQUE INDEX audit_entries_chain_seq ON audit_entries(chain_id, seq);
CREATE UNIQUE INDEX audit_entries_position ON audit_entries(position);
CREATE INDEX audit_entries_unchained ON audit_entries(id) WHERE seq IS NULL;
CREATE INDEX audit_entries_chain_id ON audit_entries(chain_id, id);
CREATE INDEX audit_entries_actor ON audit_entries(chain_id, actor_id, id);
CREATE INDEX audit_entries_action ON audit_entries(chain_id, action, id);
CREATE INDEX audit_entries_target ON audit_entries(chain_id, target_type, target_id, id);
CREATE INDEX audit_entries_at ON audit_entries(at) WHERE entry IS NOT NULL;

CREATE TABLE audit_state (
    last_position INTEGER NOT NULL
);
INSERT INTO audit_state (last_position) VALUES (0);

INSERT INTO role_permissions (role_id, permission) VALUES
    ('00000000-0000-0000-0000-000000000003', 'audit:read'),
    ('00000000-0000-0000-0000-000000000004', 'audit:read');
