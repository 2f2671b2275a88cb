-- Audit verification's own state. audit_chain_state: per chain, how far the last verification got (and whether it
-- found the chain intact) and the last checkpoint taken (its size, hash and time), for the dashboard's Audit page and
-- the scheduled checkpoints. The checkpoints themselves live outside the database (a folder or a URL): this row is a
-- convenience, never the trust anchor. audit_consumers: the durable cursor (a position in audit_entries) of each
-- consumer that ships entries elsewhere, such as the SIEM forwarder.
CREATE TABLE audit_chain_state (
    chain_id uuid PRIMARY KEY,
    verified_seq BIGINT,
    verified_at BIGINT,
    verified_damage TEXT,
    checkpoint_seq BIGINT,
    checkpoint_hash bytea,
    checkpoint_at BIGINT
);

CREATE TABLE audit_consumers (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
