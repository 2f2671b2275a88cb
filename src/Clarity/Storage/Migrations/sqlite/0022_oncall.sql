-- On-call escalation (Features/Notifications/OnCall). A roster is a rotation of members (a JSON array of user ids, in
-- order) handing off daily or weekly at a local time in an IANA time zone, from a start date; overrides put someone
-- else on call for [starts_at, ends_at). An escalation policy's levels are JSON: [{targets: {rosters, users},
-- delayMinutes}], with a repeat count and an optional fallback (JSON targets).
CREATE TABLE oncall_rosters (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    handoff_kind TEXT NOT NULL,
    handoff_time TEXT NOT NULL,
    start_date TEXT NOT NULL,
    members TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX oncall_rosters_name ON oncall_rosters(org_id, name);

CREATE TABLE oncall_overrides (
    id TEXT PRIMARY KEY,
    roster_id TEXT NOT NULL REFERENCES oncall_rosters(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX oncall_overrides_roster ON oncall_overrides(roster_id, ends_at);

CREATE TABLE escalation_policies (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    levels TEXT NOT NULL,
    repeat_count INTEGER NOT NULL DEFAULT 0,
    fallback TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX escalation_policies_name ON escalation_policies(org_id, name);

-- One run of a policy for a subject (a clarification, an approval, or a drill's test page). The plan (levels and
-- fallback) is copied at the start, so editing or deleting the policy never changes a running escalation.
-- steps_paged counts the pages sent so far; next_at is when the sweep looks at it again (null once it is closed).
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    policy_id TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    plan TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    steps_paged INTEGER NOT NULL DEFAULT 0,
    level_reached INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER,
    status TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_by_name TEXT,
    acknowledged_at INTEGER,
    acknowledged_via TEXT,
    closed_at INTEGER,
    is_drill INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX escalations_due ON escalations(next_at) WHERE status = 'open';
CREATE INDEX escalations_subject ON escalations(org_id, subject_id);

-- The timeline of an escalation: every page (with its recipients, a JSON array of user ids), the acknowledgement, the
-- answer that resolved it, or its exhaustion.
CREATE TABLE escalation_events (
    id TEXT PRIMARY KEY,
    escalation_id TEXT NOT NULL REFERENCES escalations(id),
    org_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    level INTEGER NOT NULL,
    recipients TEXT NOT NULL DEFAULT '[]',
    detail TEXT
);
CREATE INDEX escalation_events_escalation ON escalation_events(escalation_id, id);
