-- Ad-hoc task dependencies (POST …/tasks {dependsOn}): a task created with dependencies stays blocked until every one
-- of them has succeeded, and is cancelled when one fails or is cancelled. Dependencies must exist before their dependent
-- (they are named at creation and never change), so no cycle can form.
-- depends_on: the task's dependencies as created, a JSON array of ids (null when none), for its answers.
-- has_dependents: set (under the row's lock) when a task becomes a dependency, so that a final transition looks for
-- dependents only when there may be some.
ALTER TABLE tasks ADD COLUMN depends_on TEXT;
ALTER TABLE tasks ADD COLUMN has_dependents BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE task_dependencies (
    task_id uuid NOT NULL REFERENCES tasks(id),
    depends_on_id uuid NOT NULL REFERENCES tasks(id),
    org_id uuid NOT NULL REFERENCES orgs(id),
    PRIMARY KEY (task_id, depends_on_id),
    CHECK (task_id <> depends_on_id)
);
CREATE INDEX task_dependencies_depends_on ON task_dependencies(depends_on_id);
