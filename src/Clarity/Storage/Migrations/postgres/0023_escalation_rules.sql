-- Rules carry an escalation policy (org rules only): when such a rule fires on clarification.asked or approval.pending,
-- the notification fan-out starts an escalation in the same transaction. A policy a rule uses cannot be deleted.
ALTER TABLE notification_rules ADD COLUMN escalation_policy_id uuid REFERENCES escalation_policies(id);
CREATE INDEX notification_rules_policy ON notification_rules(escalation_policy_id) WHERE escalation_policy_id IS NOT NULL;

-- The rule that started an escalation: one escalation per (rule, subject), however often the event is read.
ALTER TABLE escalations ADD COLUMN rule_id uuid;
CREATE UNIQUE INDEX escalations_rule_subject ON escalations(rule_id, subject_id) WHERE rule_id IS NOT NULL;

-- The one-time "Acknowledge" links of page emails: one per mail, bound to an escalation and the person paged, holding
-- only the SHA-256 of the link's token. A link works while its escalation is open.
CREATE TABLE escalation_ack_links (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    escalation_id uuid NOT NULL REFERENCES escalations(id),
    user_id uuid NOT NULL,
    recipient_email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    delivery_id uuid NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX escalation_ack_links_escalation ON escalation_ack_links(escalation_id);
