-- Auth bench schema: notes owned by users, guarded by RLS on auth.uid().
create table notes (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid(),
  body text not null
);
alter table notes enable row level security;
-- Reads are public, so anonymous and authenticated GETs do the same database work and the
-- benchmark isolates the cost of verifying the token.
create policy public_read on notes for select to anon, authenticated using (true);
create policy own_writes on notes for insert to authenticated with check (user_id = (select auth.uid()));
insert into notes (user_id, body) select gen_random_uuid(), 'note ' || g from generate_series(1, 1000) g;
