-- The tables the rls tests use; ids are given explicitly so that runs compare exactly.
CREATE TABLE projects (
    id bigint PRIMARY KEY,
    org_id uuid NOT NULL,
    created_by uuid,
    name text NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    budget integer
);
CREATE TABLE tasks (
    id bigint PRIMARY KEY,
    org_id uuid NOT NULL,
    created_by uuid,
    project_id bigint,
    title text NOT NULL,
    internal_notes text,
    priority integer NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false
);
CREATE INDEX tasks_title ON tasks (title);
CREATE INDEX tasks_org ON tasks (org_id);
CREATE TABLE posts (
    id bigint PRIMARY KEY,
    org_id uuid,
    created_by uuid,
    title text NOT NULL,
    status text NOT NULL DEFAULT 'draft',
    score integer
);
CREATE TABLE notes (
    id bigint PRIMARY KEY,
    org_id uuid NOT NULL,
    created_by uuid,
    body text NOT NULL,
    pinned boolean NOT NULL DEFAULT false
);
CREATE TABLE payroll (id bigint PRIMARY KEY, org_id uuid NOT NULL, salary integer);
-- rowgate's own schema, as an attacker aims at it: no policy, and no privilege for the role the
-- native policies are checked as.
CREATE SCHEMA rowgate;
CREATE TABLE rowgate.users (id uuid PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL);
CREATE TABLE rowgate.memberships (user_id uuid NOT NULL, org_id uuid NOT NULL, role text NOT NULL);
