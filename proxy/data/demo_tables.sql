-- The demo app's tables, matching config/policies.yaml: applied by `rowgate demo` only (never by
-- `rowgate serve`), and only where they do not exist yet.  created_by defaults to the caller
-- rowgate names in each data API transaction (rowgate.user_id).
CREATE TABLE IF NOT EXISTS public.projects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    created_by uuid DEFAULT nullif(current_setting('rowgate.user_id', true), '')::uuid,
    name text NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS projects_org ON public.projects (org_id);

CREATE TABLE IF NOT EXISTS public.tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    created_by uuid DEFAULT nullif(current_setting('rowgate.user_id', true), '')::uuid,
    project_id uuid REFERENCES public.projects (id) ON DELETE SET NULL,
    title text NOT NULL,
    internal_notes text,
    priority integer NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tasks_org ON public.tasks (org_id);

CREATE TABLE IF NOT EXISTS public.posts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid,
    created_by uuid DEFAULT nullif(current_setting('rowgate.user_id', true), '')::uuid,
    title text NOT NULL,
    body text,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Something for a guest to read on a fresh install.
INSERT INTO public.posts (title, body, status)
SELECT 'Welcome to rowgate', 'Everyone sees published posts; authors also see their own drafts.', 'published'
WHERE NOT EXISTS (SELECT 1 FROM public.posts);
