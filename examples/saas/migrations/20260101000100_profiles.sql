-- 2. Profiles: one row per user, created at sign-up.
--
-- auth.users belongs to the auth server and is not readable through the API; what the app
-- shows about a person lives here. A trigger on auth.users creates the profile when
-- /auth/v1/signup inserts the user (display_name from the sign-up's `data.display_name`, else
-- the part of the email before the @), so the app never has to remember to.
-- `email_digest` lets a user opt out of the daily digest mail.

create table public.profiles (
  user_id uuid primary key references auth.users (id) on delete cascade,
  display_name text not null check (length(display_name) between 1 and 100),
  email_digest boolean not null default true,
  created_at timestamptz not null default now()
);
comment on table public.profiles is 'Public face of a user; one row per auth.users row';

create function private.create_profile() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  insert into public.profiles (user_id, display_name)
  values (
    new.id,
    left(coalesce(nullif(btrim(new.raw_user_meta_data ->> 'display_name'), ''),
                  nullif(split_part(new.email, '@', 1), ''),
                  'user'), 100)
  )
  on conflict (user_id) do nothing;
  return null;
end
$$;
create trigger create_profile after insert on auth.users
  for each row execute function private.create_profile();
revoke execute on function private.create_profile() from public;

-- The users who share an organization with the current user (the user included when they
-- belong to one). Same shape as my_organization_ids: evaluated once per statement.
create function private.my_coworker_ids() returns setof uuid
language sql stable security definer set search_path = ''
as $$
  select distinct other.user_id
  from public.memberships mine
  join public.memberships other on other.organization_id = mine.organization_id
  where mine.user_id = (select auth.uid())
$$;
revoke execute on function private.my_coworker_ids() from public;
grant execute on function private.my_coworker_ids() to authenticated, service_role;

-- You see your own profile and those of the people you work with; you edit only your own.
-- Profiles are created by the trigger and removed with the user, never through the API.
alter table public.profiles enable row level security;
revoke all on public.profiles from anon;
revoke insert, delete, truncate, references, trigger on public.profiles from authenticated;
create policy profiles_select on public.profiles for select to authenticated
  using (user_id = (select auth.uid()) or user_id in (select private.my_coworker_ids()));
create policy profiles_update on public.profiles for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
