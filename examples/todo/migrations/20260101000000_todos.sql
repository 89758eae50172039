-- A minimal example app: a todo list readable by anyone, writable by signed-in users.
create table public.todos (
  id bigint generated always as identity primary key,
  title text not null check (length(title) between 1 and 200),
  done boolean not null default false,
  created_at timestamptz not null default now()
);

grant select on public.todos to anon, authenticated;
grant insert, update, delete on public.todos to authenticated;

insert into public.todos (title) values ('read the README'), ('write a migration');
