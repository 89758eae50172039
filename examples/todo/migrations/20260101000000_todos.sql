-- The example app: each signed-in user keeps their own todo list.
-- Sign up through /auth/v1/signup (supabase-js: auth.signUp), then use /rest/v1/todos.
create table public.todos (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users(id) on delete cascade,
  title text not null check (length(title) between 1 and 200),
  done boolean not null default false,
  created_at timestamptz not null default now()
);

-- Row-level security: a user sees and changes only their own rows.
alter table public.todos enable row level security;
create policy todos_owner on public.todos for all to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
revoke all on public.todos from anon;

-- An RPC: how many of my todos are open (POST or GET /rest/v1/rpc/open_todos).
create function public.open_todos() returns bigint
language sql stable as $$
  select count(*) from public.todos where not done
$$;

-- Background work from SQL: every night, delete todos finished more than 30 days ago.
select cron.schedule('purge-done-todos', '0 3 * * *',
  $$ delete from public.todos where done and created_at < now() - interval '30 days' $$);
