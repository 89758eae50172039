-- 4. Activity: what happened in an organization, newest first.
--
-- Members read their organizations' feed; nobody writes it through the API. Rows come from
-- the RPCs below (organization created, member invited) and from triggers on tasks, which
-- run in the transaction of the change itself: a task that was completed always has its
-- 'completed' row, whether it was completed by complete_task, a PATCH or a GraphQL update.

create table public.activity (
  id bigint generated always as identity primary key,
  organization_id bigint not null references public.organizations (id) on delete cascade,
  actor_id uuid references auth.users (id) on delete set null,
  verb text not null,
  subject text not null,
  created_at timestamptz not null default now()
);
comment on table public.activity is 'The feed of an organization: who did what, when';
-- "The feed of organization O, newest first" and the foreign key to organizations.
create index activity_organization_id_created_at_idx on public.activity (organization_id, created_at desc);
create index activity_actor_id_idx on public.activity (actor_id);

alter table public.activity enable row level security;
revoke all on public.activity from anon;
revoke insert, update, delete, truncate, references, trigger on public.activity from authenticated;
create policy activity_select on public.activity for select to authenticated
  using (organization_id in (select private.my_organization_ids()));

-- 'created' and 'completed' rows for tasks. The trigger runs as its owner, since the API roles
-- may not insert into activity.
create function private.record_task_activity() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  verb text;
begin
  if tg_op = 'INSERT' then
    verb := 'created';
  elsif new.done and not old.done then
    verb := 'completed';
  elsif old.done and not new.done then
    verb := 'reopened';
  else
    return null;
  end if;
  insert into public.activity (organization_id, actor_id, verb, subject)
  select p.organization_id, (select auth.uid()), verb, format('task %s: %s', new.id, new.title)
  from public.projects p
  where p.id = new.project_id;
  return null;
end
$$;
create trigger record_task_activity after insert or update of done on public.tasks
  for each row execute function private.record_task_activity();
revoke execute on function private.record_task_activity() from public;
