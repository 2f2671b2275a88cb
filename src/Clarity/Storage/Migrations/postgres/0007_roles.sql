-- Roles are data. A role is a named set of permissions; memberships, API keys and invitations name their role, and
-- access checks compare permission sets, never names (see Hosting/Authorization). The built-in roles are the rows
-- with no org (every org sees them); an org's own roles (custom roles, not yet exposed) carry its id. A role also
-- holds the permissions of the role it inherits from (inherits_id), so a custom role can extend a built-in one.
CREATE TABLE roles (
    id uuid PRIMARY KEY,
    org_id uuid REFERENCES orgs(id),
    name TEXT NOT NULL,
    inherits_id uuid REFERENCES roles(id),
    created_at BIGINT NOT NULL
);
-- A name means one role in an org: unique among the built-in roles, and among each org's own.
CREATE UNIQUE INDEX roles_builtin_name ON roles(name) WHERE org_id IS NULL;
CREATE UNIQUE INDEX roles_org_name ON roles(org_id, name) WHERE org_id IS NOT NULL;

CREATE TABLE role_permissions (
    role_id uuid NOT NULL REFERENCES roles(id),
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

-- The built-in roles, from least to most privileged, each listing its whole permission set.
INSERT INTO roles (id, org_id, name, inherits_id, created_at) VALUES
    ('00000000-0000-0000-0000-000000000001', NULL, 'viewer', NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('00000000-0000-0000-0000-000000000002', NULL, 'member', NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('00000000-0000-0000-0000-000000000003', NULL, 'admin', NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('00000000-0000-0000-0000-000000000004', NULL, 'owner', NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));

INSERT INTO role_permissions (role_id, permission) VALUES
    -- viewer
    ('00000000-0000-0000-0000-000000000001', 'org:read'),
    ('00000000-0000-0000-0000-000000000001', 'tasks:read'),
    ('00000000-0000-0000-0000-000000000001', 'agents:read'),
    -- member
    ('00000000-0000-0000-0000-000000000002', 'org:read'),
    ('00000000-0000-0000-0000-000000000002', 'tasks:read'),
    ('00000000-0000-0000-0000-000000000002', 'agents:read'),
    ('00000000-0000-0000-0000-000000000002', 'tasks:write'),
    ('00000000-0000-0000-0000-000000000002', 'tasks:respond'),
    ('00000000-0000-0000-0000-000000000002', 'agents:write'),
    -- admin
    ('00000000-0000-0000-0000-000000000003', 'org:read'),
    ('00000000-0000-0000-0000-000000000003', 'tasks:read'),
    ('00000000-0000-0000-0000-000000000003', 'agents:read'),
    ('00000000-0000-0000-0000-000000000003', 'tasks:write'),
    ('00000000-0000-0000-0000-000000000003', 'tasks:respond'),
    ('00000000-0000-0000-0000-000000000003', 'agents:write'),
    ('00000000-0000-0000-0000-000000000003', 'members:read'),
    ('00000000-0000-0000-0000-000000000003', 'members:manage'),
    ('00000000-0000-0000-0000-000000000003', 'apikeys:manage'),
    -- owner
    ('00000000-0000-0000-0000-000000000004', 'org:read'),
    ('00000000-0000-0000-0000-000000000004', 'tasks:read'),
    ('00000000-0000-0000-0000-000000000004', 'agents:read'),
    ('00000000-0000-0000-0000-000000000004', 'tasks:write'),
    ('00000000-0000-0000-0000-000000000004', 'tasks:respond'),
    ('00000000-0000-0000-0000-000000000004', 'agents:write'),
    ('00000000-0000-0000-0000-000000000004', 'members:read'),
    ('00000000-0000-0000-0000-000000000004', 'members:manage'),
    ('00000000-0000-0000-0000-000000000004', 'apikeys:manage'),
    ('00000000-0000-0000-0000-000000000004', 'org:admin');
