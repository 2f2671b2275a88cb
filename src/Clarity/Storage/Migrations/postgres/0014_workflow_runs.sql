-- Workflow runs (Features/Workflows/Runs). A run executes one immutable version of a workflow; its steps are rows
-- that the engine moves in the same unit of work as whatever moved them (a task's transition, a vote, a signal, a
-- timer, an intervention), always under the run row's lock, so several nodes can advance runs without dispatching a
-- step twice. Statuses: runs running | paused | succeeded | failed | cancelled; steps pending | waiting | running |
-- succeeded | failed | skipped | cancelled.
CREATE TABLE workflow_runs (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id),
    workflow_id uuid NOT NULL REFERENCES workflows(id),
    workflow_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    debug BIGINT NOT NULL DEFAULT 0,
    breakpoints TEXT NOT NULL DEFAULT '[]',
    parent_run_id uuid,
    parent_step_id TEXT,
    depth BIGINT NOT NULL DEFAULT 0,
    created_by_kind TEXT NOT NULL,
    created_by_id uuid,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions(workflow_id, version)
);
CREATE INDEX workflow_runs_org ON workflow_runs(org_id, id);
CREATE INDEX workflow_runs_org_workflow ON workflow_runs(org_id, workflow_id, id);
CREATE INDEX workflow_runs_org_status ON workflow_runs(org_id, status, id);
CREATE INDEX workflow_runs_parent ON workflow_runs(parent_run_id) WHERE parent_run_id IS NOT NULL;

-- One row per step of a run. needs_left counts the needs not yet satisfied; at 0 the step is ready. held marks a
-- ready step a debug run stopped before. wake_at is the step's next timer (a wait's end or timeout, an approval's
-- expiry, a retry's backoff). The times feed the profile: ready, dispatched (task created), started (claimed),
-- finished; awaiting_ms sums the time its task waited for answers.
CREATE TABLE workflow_run_steps (
    run_id uuid NOT NULL REFERENCES workflow_runs(id),
    step_id TEXT NOT NULL,
    org_id uuid NOT NULL,
    kind TEXT NOT NULL,
    position BIGINT NOT NULL,
    status TEXT NOT NULL,
    needs_left BIGINT NOT NULL,
    held BIGINT NOT NULL DEFAULT 0,
    skip_reason TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    task_id uuid,
    child_run_id uuid,
    input TEXT,
    output TEXT,
    error TEXT,
    wake_at BIGINT,
    ready_at BIGINT,
    dispatched_at BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    awaiting_since BIGINT,
    awaiting_ms BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX workflow_run_steps_wake ON workflow_run_steps(wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX workflow_run_steps_open ON workflow_run_steps(run_id, status);
CREATE INDEX workflow_run_steps_waiting ON workflow_run_steps(org_id, kind, status);

-- Approval votes: one per person per step (the primary key is the "nobody votes twice" rule).
CREATE TABLE workflow_run_votes (
    run_id uuid NOT NULL REFERENCES workflow_runs(id),
    step_id TEXT NOT NULL,
    user_id uuid NOT NULL REFERENCES users(id),
    decision TEXT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_id, user_id)
);

-- Signals sent to a run. One that arrives before a wait step starts waiting for it is kept (consumed_at NULL) and
-- completes that step when it starts.
CREATE TABLE workflow_run_signals (
    id uuid PRIMARY KEY,
    run_id uuid NOT NULL REFERENCES workflow_runs(id),
    name TEXT NOT NULL,
    payload TEXT,
    created_at BIGINT NOT NULL,
    consumed_at BIGINT,
    consumed_by TEXT
);
CREATE INDEX workflow_run_signals_run ON workflow_run_signals(run_id, name, id);

-- What a task of a workflow step (or, later, any task) is handed at checkout besides its input: the run and step,
-- the role's model alias and prompt template, the step's labels.
ALTER TABLE tasks ADD COLUMN context TEXT;
CREATE INDEX tasks_run ON tasks(run_id) WHERE run_id IS NOT NULL;

-- Reading runs is for every member; starting and steering them (pause, resume, cancel, retry, skip, signal) for
-- members and above. Votes are checked against each approval's own from:.
INSERT INTO role_permissions (role_id, permission) VALUES
    ('00000000-0000-0000-0000-000000000001', 'runs:read'),
    ('00000000-0000-0000-0000-000000000002', 'runs:read'),
    ('00000000-0000-0000-0000-000000000003', 'runs:read'),
    ('00000000-0000-0000-0000-000000000004', 'runs:read'),
    ('00000000-0000-0000-0000-000000000002', 'runs:manage'),
    ('00000000-0000-0000-0000-000000000003', 'runs:manage'),
    ('00000000-0000-0000-0000-000000000004', 'runs:manage');
