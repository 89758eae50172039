-- pgbase system schema 0002_auth: the `auth` schema of Supabase Auth (GoTrue) — the helper
-- functions row-level-security policies call (`auth.uid()`, `auth.role()`, `auth.email()`,
-- `auth.jwt()`) and the tables the /auth/v1 endpoints keep users, sessions and refresh tokens
-- in. Column names and types follow upstream, so users exported from Supabase (bcrypt
-- `encrypted_password`) can be imported and sign in.
--
-- The API roles get usage on the schema and execute on the functions, never the tables. The
-- pgbase server reaches the tables as `authenticator` (its login role), through direct grants
-- and an RLS policy of its own; `anon` and `authenticated` cannot see them.

create schema if not exists auth;
comment on schema auth is 'Supabase Auth compatible users, sessions and refresh tokens; auth.uid() and friends';
grant usage on schema auth to anon, authenticated, service_role, authenticator;

-- The claims of the request's JWT: PostgREST sets `request.jwt.claims` (JSON, with the role
-- injected); PostgREST < 10 set one `request.jwt.claim.<name>` per claim, which still wins when
-- present and non-empty, as on Supabase.
create or replace function auth.jwt() returns jsonb
language sql stable
as $fn$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$fn$;
comment on function auth.jwt() is 'The claims of the request''s JWT as jsonb (NULL without one).';

create or replace function auth.uid() returns uuid
language sql stable
as $fn$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
  )::uuid
$fn$;
comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead. The user id (sub claim) of the request''s JWT.';

create or replace function auth.role() returns text
language sql stable
as $fn$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
  )::text
$fn$;
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead. The role claim of the request''s JWT.';

create or replace function auth.email() returns text
language sql stable
as $fn$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'
  )::text
$fn$;
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead. The email claim of the request''s JWT.';

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role, authenticator;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255) default '',
  confirmation_sent_at timestamptz,
  recovery_token varchar(255) default '',
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255) default '',
  email_change varchar(255) default '',
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text default null unique,
  phone_confirmed_at timestamptz,
  phone_change text default '',
  phone_change_token varchar(255) default '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) default '',
  email_change_confirm_status smallint default 0 check (email_change_confirm_status between 0 and 2),
  banned_until timestamptz,
  reauthentication_token varchar(255) default '',
  reauthentication_sent_at timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);
comment on table auth.users is 'Auth: the users of this project (Supabase Auth compatible).';
-- Unique case-insensitively (the server stores emails lower-cased; imported rows may not be).
create unique index if not exists users_email_partial_key on auth.users (lower(email))
  where is_sso_user = false;
create index if not exists users_instance_id_idx on auth.users (instance_id);
create index if not exists users_is_anonymous_idx on auth.users (is_anonymous);

create table if not exists auth.identities (
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  email text generated always as (lower(identity_data ->> 'email')) stored,
  id uuid primary key default gen_random_uuid(),
  constraint identities_provider_id_provider_unique unique (provider_id, provider)
);
comment on table auth.identities is 'Auth: the identities (sign-in methods) of each user.';
create index if not exists identities_user_id_idx on auth.identities (user_id);
create index if not exists identities_email_idx on auth.identities (email text_pattern_ops);

create table if not exists auth.sessions (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  factor_id uuid,
  aal text default 'aal1' check (aal in ('aal1', 'aal2', 'aal3')),
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text
);
comment on table auth.sessions is 'Auth: one row per signed-in session; deleting it ends the session.';
create index if not exists sessions_user_id_idx on auth.sessions (user_id);
create index if not exists sessions_not_after_idx on auth.sessions (not_after desc);

create table if not exists auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token varchar(255) unique,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  parent varchar(255),
  session_id uuid references auth.sessions (id) on delete cascade
);
comment on table auth.refresh_tokens is 'Auth: refresh tokens; each refresh revokes the presented token and issues a child (parent = the token it replaced).';
create index if not exists refresh_tokens_instance_id_user_id_idx on auth.refresh_tokens (instance_id, user_id);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent);
create index if not exists refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
create index if not exists refresh_tokens_updated_at_idx on auth.refresh_tokens (updated_at desc);

-- The server (login role `authenticator`) manages these tables; RLS stays on, as upstream, so
-- a stray grant to an API role exposes nothing.
grant select, insert, update, delete on auth.users, auth.identities, auth.sessions, auth.refresh_tokens
  to authenticator;
grant usage, select on sequence auth.refresh_tokens_id_seq to authenticator;

alter table auth.users enable row level security;
alter table auth.identities enable row level security;
alter table auth.sessions enable row level security;
alter table auth.refresh_tokens enable row level security;

do $policies$
declare
  t text;
begin
  foreach t in array array['users', 'identities', 'sessions', 'refresh_tokens'] loop
    if not exists (select from pg_policies where schemaname = 'auth' and tablename = t
                   and policyname = 'pgbase_server') then
      execute format('create policy pgbase_server on auth.%I for all to authenticator using (true) with check (true)', t);
    end if;
  end loop;
end
$policies$;
