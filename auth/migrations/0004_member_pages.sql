-- Members are listed a page at a time, in the order they joined: the index serves each page
-- from where the previous one ended.
CREATE INDEX memberships_org_joined_idx ON rowgate.memberships (org_id, created_at, user_id);
