-- On-call escalation (Features/Notifications/OnCall). A roster is a rotation of members (a JSON array of user ids, in
-- order) handing off daily or weekly at a local time in an IANA time zone, from a start date; overrides put someone
-- else on call for [starts_at, ends_at). An escalation policy's levels are JSON: [{targets: {rosters, users},
-- delayMinutes}], with a repeat count and an optional fallback (JSON targets).
CREATE TABLE oncall_rosters (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    handoff_kind TEXT NOT NULL,
    handoff_time TEXT NOT NULL,
    start_date TEXT NOT NULL,
    members TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX oncall_rosters_name ON oncall_rosters(org_id, name);

CREATE TABLE oncall_overrides (
    id uuid PRIMARY KEY,
    roster_id uuid NOT NULL REFERENCES oncall_rosters(id) ON DELETE CASCADE,
    org_id uuid NOT NULL,
    user_id uuid NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oncall_overrides_roster ON oncall_overrides(roster_id, ends_at);

CREATE TABLE escalation_policies (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    levels TEXT NOT NULL,
    repeat_count INTEGER NOT NULL DEFAULT 0,
    fallback TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX escalation_policies_name ON escalation_policies(org_id, name);

-- One run of a policy for a subject (a clarification, an approval, or a drill's test page). The plan (levels and
-- fallback) is copied at the start, so editing or deleting the policy never changes a running escalation.
-- steps_paged counts the pages sent so far; next_at is when the sweep looks at it again (null once it is closed).
CREATE TABLE escalations (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    policy_id uuid NOT NULL,
    policy_name TEXT NOT NULL,
    plan TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id uuid NOT NULL,
    correlation_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    steps_paged INTEGER NOT NULL DEFAULT 0,
    level_reached INTEGER NOT NULL DEFAULT 0,
    next_at BIGINT,
    status TEXT NOT NULL,
    acknowledged_by uuid,
    acknowledged_by_name TEXT,
    acknowledged_at BIGINT,
    acknowledged_via TEXT,
    closed_at BIGINT,
    is_drill INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX escalations_due ON escalations(next_at) WHERE status = 'open';
CREATE INDEX escalations_subject ON escalations(org_id, subject_id);

-- The timeline of an escalation: every page (with its recipients, a JSON array of user ids), the acknowledgement, the
-- answer that resolved it, or its exhaustion.
CREATE TABLE escalation_events (
    id uuid PRIMARY KEY,
    escalation_id uuid NOT NULL REFERENCES escalations(id),
    org_id uuid NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    level INTEGER NOT NULL,
    recipients TEXT NOT NULL DEFAULT '[]',
    detail TEXT
);
CREATE INDEX escalation_events_escalation ON escalation_events(escalation_id, id);
