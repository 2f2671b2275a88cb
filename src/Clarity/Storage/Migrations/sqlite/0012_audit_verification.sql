-- Audit verification's own state. audit_chain_state: per chain, how far the last verification got (and whether it
-- found the chain intact) and the last checkpoint taken (its size, hash and time), for the dashboard's Audit page and
-- the scheduled checkpoints. The checkpoints themselves live outside the database (a folder or a URL): this row is a
-- convenience, never the trust anchor. audit_consumers: the durable cursor (a position in audit_entries) of each
-- consumer that ships entries elsewhere, such as the SIEM forwarder.
CREATE TABLE audit_chain_state (
    chain_id TEXT PRIMARY KEY,
    verified_seq INTEGER,
    verified_at INTEGER,
    verified_damage TEXT,
    checkpoint_seq INTEGER,
    checkpoint_hash BLOB,
    checkpoint_at INTEGER
);

CREATE TABLE audit_consumers (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
