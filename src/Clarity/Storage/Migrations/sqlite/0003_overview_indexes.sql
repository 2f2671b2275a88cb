-- The dashboard overview counts an org's tasks created, and finished, within a time window (24 h to 30 d).
-- Without these, both queries walk every task the org ever had through tasks_org.
CREATE INDEX tasks_org_created ON tasks(org_id, created_at);
CREATE INDEX tasks_org_finished ON tasks(org_id, finished_at) WHERE finished_at IS NOT NULL;
