-- Workflow definitions (Features/Workflows). A workflow is a name in an org; every upload of its YAML is a new,
-- immutable version, numbered from 1 without gaps (latest_version is bumped under the workflow row's lock). Labels
-- such as "stable" point at one version and move by hand.
CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    description TEXT,
    latest_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

-- The YAML exactly as uploaded (the source of truth, re-parsed when needed), its SHA-256 (hex) and its step count.
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows(id),
    version INTEGER NOT NULL,
    yaml TEXT NOT NULL,
    digest TEXT NOT NULL,
    description TEXT,
    step_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by_kind TEXT NOT NULL,
    created_by_id TEXT,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_labels (
    workflow_id TEXT NOT NULL REFERENCES workflows(id),
    label TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, label),
    FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions(workflow_id, version)
);

-- The org's role map: a generic role a workflow names (role: writer) bound to what it means in this org today: the
-- queue its tasks go to, the agent labels it asks for, and a model alias and prompt template handed to the agent at
-- checkout. Changing a binding changes every workflow that names the role, and no workflow.
CREATE TABLE workflow_roles (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    agent_labels TEXT NOT NULL DEFAULT '{}',
    model_alias TEXT,
    prompt_template TEXT,
    description TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, name)
);

-- Reading workflows and the role map is for every member; uploading versions, moving labels and binding roles for
-- admins and owners.
INSERT INTO role_permissions (role_id, permission) VALUES
    ('00000000-0000-0000-0000-000000000001', 'workflows:read'),
    ('00000000-0000-0000-0000-000000000002', 'workflows:read'),
    ('00000000-0000-0000-0000-000000000003', 'workflows:read'),
    ('00000000-0000-0000-0000-000000000004', 'workflows:read'),
    ('00000000-0000-0000-0000-000000000003', 'workflows:manage'),
    ('00000000-0000-0000-0000-000000000004', 'workflows:manage');
