-- 1. Tenancy: organizations and who belongs to them.
--
-- A user (auth.users, created by /auth/v1/signup) belongs to any number of organizations
-- through `memberships`, as 'owner' or 'member'. Everything else in this example hangs off an
-- organization, so the row-level-security question "may this user see this row?" always comes
-- down to "is the user a member of the row's organization?". That question is answered by a few
-- small helper functions in the schema `private`, which the API does not expose
-- (only `public` is in db_schemas): they run as their owner (SECURITY DEFINER), so a policy on
-- `memberships` can ask about memberships without recursing into its own policy, and they pin
-- `search_path` so that nobody can slip a look-alike `memberships` table in front of them.

create schema private;
comment on schema private is 'Helpers and settings of the SaaS example; not exposed by the API';
-- Policies run as the caller, so the API roles must reach the helpers (and nothing else here:
-- each function below is granted one by one, tables in this schema not at all).
grant usage on schema private to authenticated, service_role;

create table public.organizations (
  id bigint generated always as identity primary key,
  name text not null check (length(btrim(name)) between 1 and 100),
  created_at timestamptz not null default now()
);
comment on table public.organizations is 'A customer of the SaaS: a team with members, projects and tasks';

create table public.memberships (
  organization_id bigint not null references public.organizations (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'member' check (role in ('owner', 'member')),
  created_at timestamptz not null default now(),
  -- One membership per user and organization; this index also serves "members of org X" and
  -- the foreign key to organizations.
  primary key (organization_id, user_id)
);
comment on table public.memberships is 'Who belongs to which organization, as owner or member';
-- "Organizations of user U" (every policy asks this) and the foreign key to auth.users.
create index memberships_user_id_organization_id_idx on public.memberships (user_id, organization_id);

-- The organizations the current user belongs to. Policies use it as
-- `organization_id in (select private.my_organization_ids())`: the sub-select runs once per
-- statement (not once per row) and is probed as a hash.
create function private.my_organization_ids() returns setof bigint
language sql stable security definer set search_path = ''
as $$
  select m.organization_id
  from public.memberships m
  where m.user_id = (select auth.uid())
$$;

create function private.is_member(org bigint) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.organization_id = org and m.user_id = (select auth.uid())
  )
$$;

create function private.is_owner(org bigint) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.organization_id = org and m.user_id = (select auth.uid()) and m.role = 'owner'
  )
$$;

-- Functions are executable by PUBLIC when created; here only the API's signed-in role needs them.
revoke execute on all functions in schema private from public;
grant execute on function private.my_organization_ids(), private.is_member(bigint),
  private.is_owner(bigint) to authenticated, service_role;

-- Row-level security. One policy per table, role and action (several permissive policies for
-- the same action would all be evaluated for every row). Anonymous visitors get nothing.
alter table public.organizations enable row level security;
alter table public.memberships enable row level security;
revoke all on public.organizations, public.memberships from anon;

-- Organizations are created by the RPC create_organization (it also makes the caller owner),
-- never by a plain INSERT.
revoke insert, truncate, references, trigger on public.organizations from authenticated;
create policy organizations_select on public.organizations for select to authenticated
  using (id in (select private.my_organization_ids()));
-- Members reach their organizations' rows for UPDATE and DELETE, and the trigger below lets
-- only owners through, with an error that says so. (A policy alone would silently match no
-- row, and the caller could not tell "not allowed" from "not found".)
create policy organizations_update on public.organizations for update to authenticated
  using (id in (select private.my_organization_ids()))
  with check (id in (select private.my_organization_ids()));
create policy organizations_delete on public.organizations for delete to authenticated
  using (id in (select private.my_organization_ids()));

create function private.organizations_owner_only() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  -- Requests with a user's token only; the service role, cron jobs and migrations have no uid.
  if (select auth.uid()) is not null and not private.is_owner(old.id) then
    raise exception 'only an owner of organization % can % it', old.id,
      case tg_op when 'DELETE' then 'delete' else 'rename' end
      using errcode = '42501',
            hint = 'Ask an owner of the organization (memberships.role = ''owner'').';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end
$$;
create trigger organizations_owner_only before update or delete on public.organizations
  for each row execute function private.organizations_owner_only();
-- (A trigger function needs no EXECUTE grant to fire.)
revoke execute on function private.organizations_owner_only() from public;

-- Memberships are created by create_organization and invite_member (which check who may);
-- owners change roles and remove members; anyone may leave.
revoke insert, truncate, references, trigger on public.memberships from authenticated;
create policy memberships_select on public.memberships for select to authenticated
  using (organization_id in (select private.my_organization_ids()));
create policy memberships_update on public.memberships for update to authenticated
  using (private.is_owner(organization_id))
  with check (private.is_owner(organization_id));
create policy memberships_delete on public.memberships for delete to authenticated
  using (user_id = (select auth.uid()) or private.is_owner(organization_id));
