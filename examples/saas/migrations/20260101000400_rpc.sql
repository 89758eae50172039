-- 5. The RPCs: what a plain INSERT or UPDATE cannot do alone.
--
-- Each is called as POST /rest/v1/rpc/<name> (supabase-js: `supabase.rpc(name, args)`) and is
-- one transaction. The functions in `public` run as the caller (SECURITY INVOKER), so row-level
-- security applies to them as to any request; the one step that needs more (writing a
-- membership) is a SECURITY DEFINER function in `private`, which checks who is asking first.
-- Errors carry a SQLSTATE, which the API turns into an HTTP status with the message and hint:
-- 42501 → 403 (401 without a token), 22023 → 400, 23505 → 409, and 'PT404' → 404 (PostgREST
-- answers status xyz for a SQLSTATE 'PTxyz').

-- create_organization(name): a new organization with the caller as its owner, atomically.
create function private.create_organization(org_name text) returns public.organizations
language plpgsql security definer set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  org public.organizations;
begin
  if uid is null then
    raise exception 'only a signed-in user can create an organization'
      using errcode = '42501', hint = 'Send the user''s access token: Authorization: Bearer <access_token>.';
  end if;
  insert into public.organizations (name) values (org_name) returning * into org;
  insert into public.memberships (organization_id, user_id, role) values (org.id, uid, 'owner');
  insert into public.activity (organization_id, actor_id, verb, subject)
  values (org.id, uid, 'created', format('organization %s: %s', org.id, org.name));
  return org;
end
$$;

create function public.create_organization(name text) returns public.organizations
language sql volatile security invoker set search_path = ''
as $$
  select * from private.create_organization(create_organization.name)
$$;

-- invite_member(organization_id, email, role): adds a user who has signed up to an
-- organization. Owners only.
create function private.invite_member(org bigint, invitee_email text, member_role text)
returns public.memberships
language plpgsql security definer set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  invitee uuid;
  membership public.memberships;
begin
  if uid is null or not private.is_owner(org) then
    raise exception 'only an owner of organization % can invite members', org
      using errcode = '42501',
            hint = 'Ask an owner of the organization to invite them (or to make you an owner).';
  end if;
  if member_role is null or member_role not in ('owner', 'member') then
    raise exception 'role must be ''owner'' or ''member'', not %', coalesce(quote_literal(member_role), 'null')
      using errcode = '22023';
  end if;
  select u.id into invitee
  from auth.users u
  where lower(u.email) = lower(btrim(invitee_email)) and u.is_sso_user = false;
  if invitee is null then
    raise exception 'no user with the email % has signed up', invitee_email
      using errcode = 'PT404',
            hint = 'They sign up first (POST /auth/v1/signup); then invite them again.';
  end if;
  insert into public.memberships (organization_id, user_id, role)
  values (org, invitee, member_role)
  on conflict (organization_id, user_id) do nothing
  returning * into membership;
  if membership is null then
    raise exception '% is already a member of organization %', invitee_email, org
      using errcode = '23505',
            hint = 'Change their role with PATCH /rest/v1/memberships?organization_id=eq.<id>&user_id=eq.<id>.';
  end if;
  insert into public.activity (organization_id, actor_id, verb, subject)
  values (org, uid, 'invited', format('%s as %s', invitee_email, member_role));
  return membership;
end
$$;

create function public.invite_member(organization_id bigint, email text, role text)
returns public.memberships
language sql volatile security invoker set search_path = ''
as $$
  select * from private.invite_member(invite_member.organization_id, invite_member.email,
                                      invite_member.role)
$$;

-- complete_task(task_id): marks a task done and returns it; the activity trigger writes the
-- 'completed' row in the same transaction. Row-level security decides which tasks the caller
-- may complete: a task outside their organizations is "not found".
create function public.complete_task(task_id bigint) returns public.tasks
language plpgsql volatile security invoker set search_path = ''
as $$
declare
  task public.tasks;
begin
  update public.tasks t set done = true
  where t.id = complete_task.task_id
  returning t.* into task;
  if task.id is null then
    raise exception 'task % not found', complete_task.task_id
      using errcode = 'PT404',
            hint = 'It does not exist, or it belongs to an organization you are not a member of.';
  end if;
  return task;
end
$$;

-- The API roles: signed-in users call the RPCs, anonymous visitors do not. (New functions in
-- `public` are executable by anon, authenticated and service_role by default.)
revoke execute on function private.create_organization(text),
  private.invite_member(bigint, text, text) from public;
grant execute on function private.create_organization(text),
  private.invite_member(bigint, text, text) to authenticated;
revoke execute on function public.create_organization(text),
  public.invite_member(bigint, text, text), public.complete_task(bigint) from public, anon;
