-- One-time links that answer one question from an email: one row per mail sent. Only the SHA-256 of the link's token is
-- stored (never the token). Every mail's link keeps working until the question is answered (the expiring reminder does
-- not break the first mail's link, and a retried attempt that was in fact delivered still works); the first answer
-- through any of them wins. A link expires with the question and works once (used_at); user_id is the member behind the
-- address, when the address is a member's.
CREATE TABLE email_answer_links (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    clarification_id TEXT NOT NULL REFERENCES clarifications(id),
    recipient_email TEXT NOT NULL,
    user_id TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    delivery_id TEXT NOT NULL,
    task_title TEXT,
    agent_name TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX email_answer_links_clarification ON email_answer_links(clarification_id);
CREATE INDEX email_answer_links_expiry ON email_answer_links(expires_at);
