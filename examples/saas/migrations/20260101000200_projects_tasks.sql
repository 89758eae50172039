-- 3. Projects and tasks: the work itself.
--
-- A project belongs to one organization; a task to one project, optionally assigned to a
-- user, optionally due. Every member of the organization sees, creates and edits its projects
-- and tasks; only owners delete projects. Tasks have no organization column of their own, so
-- their policies ask for "the projects of my organizations" through another helper.

create table public.projects (
  id bigint generated always as identity primary key,
  organization_id bigint not null references public.organizations (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 100),
  created_at timestamptz not null default now()
);
comment on table public.projects is 'A project of an organization; holds tasks';
create index projects_organization_id_idx on public.projects (organization_id);

create table public.tasks (
  id bigint generated always as identity primary key,
  project_id bigint not null references public.projects (id) on delete cascade,
  title text not null check (length(btrim(title)) between 1 and 200),
  done boolean not null default false,
  assignee_id uuid references auth.users (id) on delete set null,
  due_at timestamptz,
  created_at timestamptz not null default now()
);
-- The GraphQL API counts a collection (totalCount) only where a table asks for it, as
-- pg_graphql does; the dashboard counts open tasks per project.
comment on table public.tasks is '@graphql({"totalCount": {"enabled": true}})';
-- "The latest tasks of project P" (the dashboard) and the foreign key to projects.
create index tasks_project_id_created_at_idx on public.tasks (project_id, created_at desc);
create index tasks_assignee_id_idx on public.tasks (assignee_id);

-- The projects of every organization the current user belongs to.
create function private.my_project_ids() returns setof bigint
language sql stable security definer set search_path = ''
as $$
  select p.id
  from public.memberships m
  join public.projects p on p.organization_id = m.organization_id
  where m.user_id = (select auth.uid())
$$;
revoke execute on function private.my_project_ids() from public;
grant execute on function private.my_project_ids() to authenticated, service_role;

alter table public.projects enable row level security;
alter table public.tasks enable row level security;
revoke all on public.projects, public.tasks from anon;
revoke truncate, references, trigger on public.projects, public.tasks from authenticated;

create policy projects_select on public.projects for select to authenticated
  using (organization_id in (select private.my_organization_ids()));
create policy projects_insert on public.projects for insert to authenticated
  with check (organization_id in (select private.my_organization_ids()));
create policy projects_update on public.projects for update to authenticated
  using (organization_id in (select private.my_organization_ids()))
  with check (organization_id in (select private.my_organization_ids()));
create policy projects_delete on public.projects for delete to authenticated
  using (private.is_owner(organization_id));

create policy tasks_select on public.tasks for select to authenticated
  using (project_id in (select private.my_project_ids()));
create policy tasks_insert on public.tasks for insert to authenticated
  with check (project_id in (select private.my_project_ids()));
create policy tasks_update on public.tasks for update to authenticated
  using (project_id in (select private.my_project_ids()))
  with check (project_id in (select private.my_project_ids()));
create policy tasks_delete on public.tasks for delete to authenticated
  using (project_id in (select private.my_project_ids()));
