//! Every lint against a real Postgres (a fresh database with pgbase's system schemas): a schema
//! that should trip it does, with the expected level, metadata and cache key; the near-miss that
//! is written correctly does not. A fresh database and a clean application schema give no
//! finding at all.

use pgbase_advisors::{Level, Lint, run};

/// Applies `sql` to a fresh database and runs every lint with `exposed` as the API schemas.
async fn lints_with(sql: &str, exposed: &[&str]) -> Vec<Lint> {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute(sql)
        .await
        .expect("test schema applies");
    let exposed: Vec<String> = exposed.iter().map(|s| s.to_string()).collect();
    run(&client, &exposed).await.expect("lints run")
}

async fn lints(sql: &str) -> Vec<Lint> {
    lints_with(sql, &["public"]).await
}

fn named<'a>(all: &'a [Lint], name: &str) -> Vec<&'a Lint> {
    all.iter().filter(|l| l.name == name).collect()
}

fn keys(all: &[Lint], name: &str) -> Vec<String> {
    named(all, name)
        .iter()
        .map(|l| l.cache_key.clone())
        .collect()
}

/// A small application written the way the advisors recommend.
const CLEAN_APP: &str = r#"
create table public.orgs (id bigint generated always as identity primary key, name text not null);
create table public.members (
  org_id bigint not null references public.orgs (id),
  user_id uuid not null,
  primary key (org_id, user_id)
);
create index members_user_id_idx on public.members (user_id);
create table public.notes (
  id bigint generated always as identity primary key,
  org_id bigint not null references public.orgs (id),
  owner uuid not null default auth.uid(),
  body text
);
create index notes_org_id_idx on public.notes (org_id, id);
alter table public.orgs enable row level security;
alter table public.members enable row level security;
alter table public.notes enable row level security;
create policy "members read orgs" on public.orgs for select to authenticated
  using (exists (select 1 from public.members m where m.org_id = orgs.id and m.user_id = (select auth.uid())));
create policy "own memberships" on public.members for select to authenticated
  using (user_id = (select auth.uid()));
create policy "notes read" on public.notes for select to authenticated
  using (owner = (select auth.uid()) or (select auth.jwt() ->> 'role') = 'admin');
create policy "notes write" on public.notes for insert to authenticated
  with check (owner = (select auth.uid()) and ((select auth.jwt()) -> 'app_metadata' ->> 'plan') = 'pro');
create policy "notes narrow" on public.notes as restrictive for select to authenticated
  using (org_id is not null);
create view public.my_notes with (security_invoker = true) as select id, body from public.notes;
create function public.note_count() returns bigint language sql stable
  set search_path = '' as $$ select count(*) from public.notes $$;
create schema private;
create function private.admin_only() returns void language sql security definer
  set search_path = '' as $$ select $$;
"#;

#[tokio::test]
async fn a_fresh_database_has_no_findings() {
    let found = lints_with("", &["public", "pgmq_public"]).await;
    assert!(found.is_empty(), "{found:#?}");
}

#[tokio::test]
async fn a_clean_application_schema_has_no_findings() {
    let found = lints(CLEAN_APP).await;
    assert!(found.is_empty(), "{found:#?}");
}

#[tokio::test]
async fn findings_come_errors_first_then_warnings_then_info() {
    let found = lints(
        "create table public.open (v text);
         create table public.locked (id int primary key);
         alter table public.locked enable row level security;
         create function public.f() returns int language sql as $$ select 1 $$;",
    )
    .await;
    let levels: Vec<Level> = found.iter().map(|l| l.level).collect();
    let mut sorted = levels.clone();
    sorted.sort();
    assert_eq!(levels, sorted);
    assert_eq!(levels.first(), Some(&Level::Error));
    assert_eq!(levels.last(), Some(&Level::Info));
    assert!(levels.contains(&Level::Warn));
    let json = serde_json::to_value(&found[0]).expect("serialises");
    assert_eq!(json["level"], "ERROR");
    for key in [
        "name",
        "title",
        "facing",
        "categories",
        "description",
        "detail",
        "remediation",
        "metadata",
        "cache_key",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
}

// --- rls_disabled_in_public -------------------------------------------------------------------

#[tokio::test]
async fn rls_disabled_in_public_fires_on_a_granted_table_without_rls() {
    let found = lints("create table public.profiles (id int primary key, bio text);").await;
    let hits = named(&found, "rls_disabled_in_public");
    assert_eq!(hits.len(), 1, "{found:#?}");
    let lint = hits[0];
    assert_eq!(lint.level, Level::Error);
    assert_eq!(lint.categories, vec!["SECURITY"]);
    assert_eq!(lint.facing, "EXTERNAL");
    assert_eq!(lint.cache_key, "rls_disabled_in_public_public_profiles");
    assert_eq!(lint.metadata["schema"], "public");
    assert_eq!(lint.metadata["name"], "profiles");
    assert_eq!(
        lint.metadata["roles"],
        serde_json::json!(["anon", "authenticated"])
    );
    assert!(
        lint.remediation
            .contains("alter table public.profiles enable row level security"),
        "{}",
        lint.remediation
    );
}

#[tokio::test]
async fn rls_disabled_in_public_skips_ungranted_unexposed_and_rls_tables() {
    let found = lints(
        "create table public.secret (id int primary key);
         revoke all on public.secret from anon, authenticated;
         create schema internal;
         grant usage on schema internal to anon;
         create table internal.t (id int primary key);
         grant select on internal.t to anon;
         create table public.guarded (id int primary key);
         alter table public.guarded enable row level security;
         create policy p on public.guarded for select to anon using (true);",
    )
    .await;
    assert!(
        keys(&found, "rls_disabled_in_public").is_empty(),
        "{found:#?}"
    );
}

#[tokio::test]
async fn rls_disabled_in_public_counts_a_column_grant() {
    let found = lints(
        "create table public.partial (id int primary key, v text);
         revoke all on public.partial from anon, authenticated;
         grant select (id) on public.partial to anon;",
    )
    .await;
    let hits = named(&found, "rls_disabled_in_public");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].metadata["roles"], serde_json::json!(["anon"]));
}

// --- policy_exists_rls_disabled ---------------------------------------------------------------

#[tokio::test]
async fn policy_exists_rls_disabled_fires_when_rls_is_off() {
    let found = lints(
        "create table public.posts (id int primary key, owner uuid);
         create policy own on public.posts using (owner = (select auth.uid()));",
    )
    .await;
    let hits = named(&found, "policy_exists_rls_disabled");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].level, Level::Error);
    assert_eq!(hits[0].cache_key, "policy_exists_rls_disabled_public_posts");
    assert_eq!(hits[0].metadata["policies"], serde_json::json!(["own"]));
}

#[tokio::test]
async fn policy_exists_rls_disabled_is_quiet_once_rls_is_on() {
    let found = lints(
        "create table public.posts (id int primary key, owner uuid);
         create policy own on public.posts using (owner = (select auth.uid()));
         alter table public.posts enable row level security;",
    )
    .await;
    assert!(
        keys(&found, "policy_exists_rls_disabled").is_empty(),
        "{found:#?}"
    );
}

// --- rls_enabled_no_policy --------------------------------------------------------------------

#[tokio::test]
async fn rls_enabled_no_policy_fires_on_a_table_without_policies() {
    let found = lints(
        "create table public.vault (id int primary key);
         alter table public.vault enable row level security;",
    )
    .await;
    let hits = named(&found, "rls_enabled_no_policy");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].level, Level::Info);
    assert_eq!(hits[0].cache_key, "rls_enabled_no_policy_public_vault");
}

#[tokio::test]
async fn rls_enabled_no_policy_is_quiet_with_a_policy() {
    let found = lints(
        "create table public.vault (id int primary key);
         alter table public.vault enable row level security;
         create policy r on public.vault for select to authenticated using (true);",
    )
    .await;
    assert!(
        keys(&found, "rls_enabled_no_policy").is_empty(),
        "{found:#?}"
    );
}

// --- auth_rls_initplan ------------------------------------------------------------------------

const INITPLAN_TABLE: &str = "
create table public.docs (id int primary key, owner uuid, org int);
create table public.memberships (user_id uuid, org int, primary key (user_id, org));
alter table public.docs enable row level security;
alter table public.memberships enable row level security;
create policy m on public.memberships for select to authenticated using (user_id = (select auth.uid()));
";

#[tokio::test]
async fn auth_rls_initplan_fires_on_bare_calls() {
    let found = lints(&format!(
        "{INITPLAN_TABLE}
         create policy bare_uid on public.docs for select to authenticated using (owner = auth.uid());
         create policy bare_jwt on public.docs for update to authenticated
           using (true) with check ((auth.jwt() ->> 'sub')::uuid = owner);
         create policy bare_setting on public.docs for delete to authenticated
           using (current_setting('request.jwt.claims', true)::jsonb ->> 'role' = 'admin');
         create policy in_subquery on public.docs for insert to authenticated
           with check (exists (select 1 from public.memberships m where m.org = docs.org and m.user_id = auth.uid()));"
    ))
    .await;
    let hits = named(&found, "auth_rls_initplan");
    let mut by_policy: Vec<(String, serde_json::Value)> = hits
        .iter()
        .map(|l| {
            (
                l.metadata["policy"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                l.metadata["calls"].clone(),
            )
        })
        .collect();
    by_policy.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_policy,
        vec![
            ("bare_jwt".to_string(), serde_json::json!(["auth.jwt()"])),
            (
                "bare_setting".to_string(),
                serde_json::json!(["current_setting()"])
            ),
            ("bare_uid".to_string(), serde_json::json!(["auth.uid()"])),
            ("in_subquery".to_string(), serde_json::json!(["auth.uid()"])),
        ],
        "{found:#?}"
    );
    let uid = hits
        .iter()
        .find(|l| l.metadata["policy"] == "bare_uid")
        .expect("bare_uid");
    assert_eq!(uid.level, Level::Warn);
    assert_eq!(uid.categories, vec!["PERFORMANCE"]);
    assert_eq!(uid.cache_key, "auth_rls_initplan_public_docs_bare_uid");
    assert!(
        uid.remediation.contains("(select auth.uid())"),
        "{}",
        uid.remediation
    );
    let jwt = hits
        .iter()
        .find(|l| l.metadata["policy"] == "bare_jwt")
        .expect("bare_jwt");
    assert_eq!(
        jwt.metadata["expressions"],
        serde_json::json!(["WITH CHECK"])
    );
}

#[tokio::test]
async fn auth_rls_initplan_is_not_confused_by_parentheses_in_string_literals() {
    let found = lints(&format!(
        "{INITPLAN_TABLE}
         alter table public.docs add column title text;
         create policy odd on public.docs for select to authenticated
           using (title ~ '^(draft|(final' and owner = auth.uid());
         create policy odd_ok on public.docs for delete to authenticated
           using (title ~ 'x)(' and owner = (select auth.uid()));"
    ))
    .await;
    assert_eq!(
        keys(&found, "auth_rls_initplan"),
        vec!["auth_rls_initplan_public_docs_odd"],
        "{found:#?}"
    );
}

#[tokio::test]
async fn auth_rls_initplan_is_quiet_on_wrapped_calls() {
    let found = lints(&format!(
        "{INITPLAN_TABLE}
         create policy w_uid on public.docs for select to authenticated using (owner = (select auth.uid()));
         create policy w_jwt on public.docs for update to authenticated
           using (true) with check (((select auth.jwt()) ->> 'sub')::uuid = owner);
         create policy w_expr on public.docs for delete to authenticated
           using ((select current_setting('request.jwt.claims', true)::jsonb ->> 'role') = 'admin');
         create policy w_sub on public.docs for insert to authenticated
           with check (exists (select 1 from public.memberships m where m.org = docs.org and m.user_id = (select auth.uid())));"
    ))
    .await;
    assert!(keys(&found, "auth_rls_initplan").is_empty(), "{found:#?}");
}

// --- unindexed_foreign_keys -------------------------------------------------------------------

#[tokio::test]
async fn unindexed_foreign_keys_fires_without_a_leading_index() {
    let found = lints(
        "create table public.a (id int primary key, x int, y int, unique (x, y));
         create table public.b (id int primary key, a_id int references public.a (id),
                                x int, y int, constraint b_xy_fkey foreign key (x, y) references public.a (x, y));
         create index b_other_idx on public.b (id, a_id);
         create index b_partial_idx on public.b (a_id) where a_id > 0;
         create index b_y_idx on public.b (y);",
    )
    .await;
    let mut found_keys = keys(&found, "unindexed_foreign_keys");
    found_keys.sort();
    assert_eq!(
        found_keys,
        vec![
            "unindexed_foreign_keys_public_b_b_a_id_fkey",
            "unindexed_foreign_keys_public_b_b_xy_fkey"
        ],
        "{found:#?}"
    );
    let hit = named(&found, "unindexed_foreign_keys")
        .into_iter()
        .find(|l| l.metadata["fkey_name"] == "b_xy_fkey")
        .expect("b_xy_fkey");
    assert_eq!(hit.level, Level::Info);
    assert_eq!(hit.metadata["fkey_columns"], serde_json::json!(["x", "y"]));
    assert!(
        hit.remediation.contains("create index on public.b (x, y)"),
        "{}",
        hit.remediation
    );
}

#[tokio::test]
async fn unindexed_foreign_keys_accepts_an_index_with_the_key_columns_first_in_any_order() {
    let found = lints(
        "create table public.a (id int primary key, x int, y int, unique (x, y));
         create table public.b (id int primary key, a_id int references public.a (id),
                                x int, y int, foreign key (x, y) references public.a (x, y));
         create index on public.b (a_id);
         create index on public.b (y, x, id);",
    )
    .await;
    assert!(
        keys(&found, "unindexed_foreign_keys").is_empty(),
        "{found:#?}"
    );
}

// --- duplicate_index --------------------------------------------------------------------------

#[tokio::test]
async fn duplicate_index_fires_on_identical_indexes() {
    let found = lints(
        "create table public.t (id int primary key, email text);
         create index t_email_a on public.t (email);
         create index t_email_b on public.t (email);
         create unique index t_id_again on public.t (id);",
    )
    .await;
    let mut found_keys = keys(&found, "duplicate_index");
    found_keys.sort();
    assert_eq!(
        found_keys,
        vec![
            "duplicate_index_public_t_t_email_a_t_email_b",
            "duplicate_index_public_t_t_pkey_t_id_again"
        ],
        "{found:#?}"
    );
    let pk = named(&found, "duplicate_index")
        .into_iter()
        .find(|l| l.cache_key.ends_with("t_id_again"))
        .expect("pk duplicate");
    assert_eq!(pk.level, Level::Warn);
    assert!(
        pk.remediation.contains("drop index public.t_id_again"),
        "{}",
        pk.remediation
    );
}

#[tokio::test]
async fn duplicate_index_is_quiet_on_indexes_that_differ() {
    let found = lints(
        "create table public.t (id int primary key, email text, n int);
         create index on public.t (email);
         create index on public.t (lower(email));
         create index on public.t (email) where n > 0;
         create index on public.t (email desc);
         create index on public.t (email, n);
         create index on public.t using hash (email);
         create unique index on public.t (email);",
    )
    .await;
    assert!(keys(&found, "duplicate_index").is_empty(), "{found:#?}");
}

// --- no_primary_key ---------------------------------------------------------------------------

#[tokio::test]
async fn no_primary_key_fires_on_a_keyless_table() {
    let found = lints(
        "create table public.events (at timestamptz, v text unique);
         alter table public.events enable row level security;
         create policy r on public.events for select to anon using (true);",
    )
    .await;
    assert_eq!(
        keys(&found, "no_primary_key"),
        vec!["no_primary_key_public_events"],
        "{found:#?}"
    );
    assert_eq!(named(&found, "no_primary_key")[0].level, Level::Info);
}

#[tokio::test]
async fn no_primary_key_skips_keyed_tables_and_partitions() {
    let found = lints(
        "create table public.measures (id int, at date, primary key (id, at)) partition by range (at);
         create table public.measures_2026 partition of public.measures
           for values from ('2026-01-01') to ('2027-01-01');",
    )
    .await;
    assert!(keys(&found, "no_primary_key").is_empty(), "{found:#?}");
}

// --- security_definer_view --------------------------------------------------------------------

#[tokio::test]
async fn security_definer_view_fires_on_a_view_without_security_invoker() {
    let found = lints(
        "create table public.t (id int primary key);
         alter table public.t enable row level security;
         create policy r on public.t for select to authenticated using (true);
         create view public.all_t as select id from public.t;
         create view public.all_t_off with (security_invoker = false) as select id from public.t;",
    )
    .await;
    let mut found_keys = keys(&found, "security_definer_view");
    found_keys.sort();
    assert_eq!(
        found_keys,
        vec![
            "security_definer_view_public_all_t",
            "security_definer_view_public_all_t_off"
        ],
        "{found:#?}"
    );
    let hit = named(&found, "security_definer_view")[0];
    assert_eq!(hit.level, Level::Error);
    assert_eq!(hit.metadata["type"], "view");
    assert!(
        hit.remediation.contains("security_invoker = true"),
        "{}",
        hit.remediation
    );
}

#[tokio::test]
async fn security_definer_view_skips_invoker_ungranted_and_unexposed_views() {
    let found = lints(
        "create table public.t (id int primary key);
         alter table public.t enable row level security;
         create policy r on public.t for select to authenticated using (true);
         create view public.inv with (security_invoker = on) as select id from public.t;
         create view public.hidden as select id from public.t;
         revoke all on public.hidden from anon, authenticated;
         create schema reports;
         grant usage on schema reports to anon;
         create view reports.v as select id from public.t;
         grant select on reports.v to anon;",
    )
    .await;
    assert!(
        keys(&found, "security_definer_view").is_empty(),
        "{found:#?}"
    );
}

// --- security_definer_function_executable -----------------------------------------------------

#[tokio::test]
async fn security_definer_function_executable_fires_in_an_exposed_schema() {
    let found = lints(
        "create function public.promote(uid uuid) returns void language sql security definer
           set search_path = '' as $$ select $$;",
    )
    .await;
    let hits = named(&found, "security_definer_function_executable");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].level, Level::Warn);
    assert_eq!(hits[0].metadata["name"], "promote");
    assert_eq!(hits[0].metadata["arguments"], "uid uuid");
    assert!(
        hits[0]
            .cache_key
            .starts_with("security_definer_function_executable_public_promote_"),
        "{}",
        hits[0].cache_key
    );
}

#[tokio::test]
async fn security_definer_function_executable_skips_revoked_invoker_and_unexposed_functions() {
    let found = lints(
        "create function public.promote(uid uuid) returns void language sql security definer
           set search_path = '' as $$ select $$;
         revoke execute on function public.promote(uuid) from public, anon, authenticated;
         create function public.plain() returns int language sql set search_path = '' as $$ select 1 $$;
         create schema private;
         grant usage on schema private to anon;
         create function private.admin() returns void language sql security definer
           set search_path = '' as $$ select $$;",
    )
    .await;
    assert!(
        keys(&found, "security_definer_function_executable").is_empty(),
        "{found:#?}"
    );
}

// --- function_search_path_mutable -------------------------------------------------------------

#[tokio::test]
async fn function_search_path_mutable_fires_without_a_pinned_search_path() {
    let found = lints(
        "create function public.add(a int, b int) returns int language sql as $$ select a + b $$;
         create schema private;
         create procedure private.tidy() language sql as $$ select $$;",
    )
    .await;
    let hits = named(&found, "function_search_path_mutable");
    let mut names: Vec<String> = hits
        .iter()
        .map(|l| {
            format!(
                "{}.{}",
                l.metadata["schema"].as_str().unwrap_or(""),
                l.metadata["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    names.sort();
    assert_eq!(names, vec!["private.tidy", "public.add"], "{found:#?}");
    let add = hits
        .iter()
        .find(|l| l.metadata["name"] == "add")
        .expect("add");
    assert_eq!(add.level, Level::Warn);
    assert!(
        add.remediation
            .contains("alter function public.add(a integer, b integer) set search_path"),
        "{}",
        add.remediation
    );
}

#[tokio::test]
async fn function_search_path_mutable_is_quiet_with_search_path_set() {
    let found = lints(
        "create function public.add(a int, b int) returns int language sql
           set search_path = pg_catalog as $$ select a + b $$;
         create function public.sub(a int, b int) returns int language sql as $$ select a - b $$;
         alter function public.sub(int, int) set search_path = '';",
    )
    .await;
    assert!(
        keys(&found, "function_search_path_mutable").is_empty(),
        "{found:#?}"
    );
}

// --- multiple_permissive_policies -------------------------------------------------------------

#[tokio::test]
async fn multiple_permissive_policies_fires_per_role_and_action() {
    let found = lints(
        "create table public.t (id int primary key, owner uuid, public boolean);
         alter table public.t enable row level security;
         create policy own on public.t for select to authenticated using (owner = (select auth.uid()));
         create policy open on public.t for all to authenticated using (public);",
    )
    .await;
    assert_eq!(
        keys(&found, "multiple_permissive_policies"),
        vec!["multiple_permissive_policies_public_t_authenticated_SELECT"],
        "{found:#?}"
    );
    let hit = named(&found, "multiple_permissive_policies")[0];
    assert_eq!(hit.level, Level::Warn);
    assert_eq!(hit.metadata["policies"], serde_json::json!(["open", "own"]));
}

#[tokio::test]
async fn multiple_permissive_policies_counts_public_policies_for_every_role() {
    let found = lints(
        "create table public.t (id int primary key, owner uuid);
         alter table public.t enable row level security;
         create policy everyone on public.t for select using (true);
         create policy anon_too on public.t for select to anon using (true);",
    )
    .await;
    assert_eq!(
        keys(&found, "multiple_permissive_policies"),
        vec!["multiple_permissive_policies_public_t_anon_SELECT"],
        "{found:#?}"
    );
}

#[tokio::test]
async fn multiple_permissive_policies_is_quiet_for_distinct_roles_actions_and_restrictive() {
    let found = lints(
        "create table public.t (id int primary key, owner uuid);
         alter table public.t enable row level security;
         create policy r_auth on public.t for select to authenticated using (true);
         create policy r_anon on public.t for select to anon using (true);
         create policy w_auth on public.t for insert to authenticated with check (true);
         create policy narrow on public.t as restrictive for select to authenticated using (owner is not null);",
    )
    .await;
    assert!(
        keys(&found, "multiple_permissive_policies").is_empty(),
        "{found:#?}"
    );
}

// --- auth_users_exposed -----------------------------------------------------------------------

#[tokio::test]
async fn auth_users_exposed_fires_on_a_view_over_auth_users() {
    let found = lints(
        "create view public.people as select id, email from auth.users;
         create view public.people_again with (security_invoker = true) as select * from public.people;",
    )
    .await;
    let mut found_keys = keys(&found, "auth_users_exposed");
    found_keys.sort();
    assert_eq!(
        found_keys,
        vec![
            "auth_users_exposed_public_people",
            "auth_users_exposed_public_people_again"
        ],
        "{found:#?}"
    );
    let hit = named(&found, "auth_users_exposed")[0];
    assert_eq!(hit.level, Level::Error);
    assert_eq!(hit.metadata["exposes"], serde_json::json!(["auth.users"]));
}

#[tokio::test]
async fn auth_users_exposed_fires_when_auth_is_exposed_with_a_grant() {
    let found = lints_with(
        "grant select on auth.sessions to authenticated;",
        &["public", "auth"],
    )
    .await;
    assert_eq!(
        keys(&found, "auth_users_exposed"),
        vec!["auth_users_exposed_auth_sessions"],
        "{found:#?}"
    );
}

#[tokio::test]
async fn auth_users_exposed_is_quiet_for_private_views_and_unexposed_auth() {
    let found = lints(
        "create view public.people as select id, email from auth.users;
         revoke all on public.people from anon, authenticated;
         create schema admin;
         create view admin.people as select id, email from auth.users;
         grant usage on schema admin to authenticated;
         grant select on admin.people to authenticated;
         grant select on auth.sessions to authenticated;",
    )
    .await;
    assert!(keys(&found, "auth_users_exposed").is_empty(), "{found:#?}");
}

// --- insecure_queue_exposed_in_api ------------------------------------------------------------

#[tokio::test]
async fn insecure_queue_exposed_in_api_fires_on_a_granted_queue_without_rls() {
    let found = lints_with(
        "select pgmq.create('jobs');
         grant select, insert, update, delete on pgmq.q_jobs to authenticated;
         create view public.archive as select msg_id, message from pgmq.a_jobs;",
        &["public", "pgmq_public"],
    )
    .await;
    let mut found_keys = keys(&found, "insecure_queue_exposed_in_api");
    found_keys.sort();
    assert_eq!(
        found_keys,
        vec![
            "insecure_queue_exposed_in_api_pgmq_q_jobs",
            "insecure_queue_exposed_in_api_public_archive"
        ],
        "{found:#?}"
    );
    let table = named(&found, "insecure_queue_exposed_in_api")
        .into_iter()
        .find(|l| l.metadata["type"] == "table")
        .expect("table finding");
    assert_eq!(table.level, Level::Error);
    assert_eq!(
        table.metadata["roles"],
        serde_json::json!(["authenticated"])
    );
}

#[tokio::test]
async fn insecure_queue_exposed_in_api_is_quiet_with_rls_or_without_exposure() {
    // Granted but pgmq_public is not exposed; and a second queue exposed with RLS on.
    let unexposed = lints(
        "select pgmq.create('jobs');
         grant select, insert, update, delete on pgmq.q_jobs to authenticated;",
    )
    .await;
    assert!(
        keys(&unexposed, "insecure_queue_exposed_in_api").is_empty(),
        "{unexposed:#?}"
    );
    let guarded = lints_with(
        "select pgmq.create('jobs');
         grant select, insert, update, delete on pgmq.q_jobs to authenticated;
         alter table pgmq.q_jobs enable row level security;
         create policy mine on pgmq.q_jobs for all to authenticated
           using (message ->> 'owner' = (select auth.uid())::text);
         select pgmq.create('internal');",
        &["public", "pgmq_public"],
    )
    .await;
    assert!(
        keys(&guarded, "insecure_queue_exposed_in_api").is_empty(),
        "{guarded:#?}"
    );
}

// --- rls_references_user_metadata -------------------------------------------------------------

#[tokio::test]
async fn rls_references_user_metadata_fires_on_jwt_user_metadata() {
    let found = lints(
        "create table public.t (id int primary key);
         alter table public.t enable row level security;
         create policy admins on public.t for select to authenticated
           using (((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'admin');",
    )
    .await;
    let hits = named(&found, "rls_references_user_metadata");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].level, Level::Error);
    assert_eq!(
        hits[0].cache_key,
        "rls_references_user_metadata_public_t_admins"
    );
    assert!(
        hits[0].detail.contains("user_metadata"),
        "{}",
        hits[0].detail
    );
}

#[tokio::test]
async fn rls_references_user_metadata_fires_on_raw_user_meta_data() {
    let found = lints(
        "create table public.t (id int primary key);
         alter table public.t enable row level security;
         create policy admins on public.t for update to authenticated using (true)
           with check (exists (select 1 from auth.users u where u.id = (select auth.uid())
                               and u.raw_user_meta_data ->> 'role' = 'admin'));",
    )
    .await;
    assert_eq!(
        keys(&found, "rls_references_user_metadata"),
        vec!["rls_references_user_metadata_public_t_admins"],
        "{found:#?}"
    );
}

#[tokio::test]
async fn rls_references_user_metadata_is_quiet_on_app_metadata() {
    let found = lints(
        "create table public.t (id int primary key);
         alter table public.t enable row level security;
         create policy admins on public.t for select to authenticated
           using (((select auth.jwt()) -> 'app_metadata' ->> 'role') = 'admin');",
    )
    .await;
    assert!(
        keys(&found, "rls_references_user_metadata").is_empty(),
        "{found:#?}"
    );
}

// --- materialized_view_in_api -----------------------------------------------------------------

#[tokio::test]
async fn materialized_view_in_api_fires_on_a_granted_materialized_view() {
    let found = lints(
        "create table public.t (id int primary key, v int);
         alter table public.t enable row level security;
         create materialized view public.totals as select sum(v) as total from public.t;",
    )
    .await;
    let hits = named(&found, "materialized_view_in_api");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].level, Level::Warn);
    assert_eq!(hits[0].cache_key, "materialized_view_in_api_public_totals");
}

#[tokio::test]
async fn materialized_view_in_api_is_quiet_when_revoked_or_unexposed() {
    let found = lints(
        "create table public.t (id int primary key, v int);
         alter table public.t enable row level security;
         create materialized view public.totals as select sum(v) as total from public.t;
         revoke all on public.totals from anon, authenticated;
         create schema reports;
         grant usage on schema reports to anon;
         create materialized view reports.totals as select sum(v) as total from public.t;
         grant select on reports.totals to anon;",
    )
    .await;
    assert!(
        keys(&found, "materialized_view_in_api").is_empty(),
        "{found:#?}"
    );
}

// --- foreign_table_in_api ---------------------------------------------------------------------

const FOREIGN_SERVER: &str = "
create foreign data wrapper lint_fdw;
create server lint_server foreign data wrapper lint_fdw;
";

#[tokio::test]
async fn foreign_table_in_api_fires_on_a_granted_foreign_table() {
    let found = lints(&format!(
        "{FOREIGN_SERVER}
         create foreign table public.remote (id int, v text) server lint_server;"
    ))
    .await;
    let hits = named(&found, "foreign_table_in_api");
    assert_eq!(hits.len(), 1, "{found:#?}");
    assert_eq!(hits[0].level, Level::Warn);
    assert_eq!(hits[0].cache_key, "foreign_table_in_api_public_remote");
    assert_eq!(
        hits[0].metadata["roles"],
        serde_json::json!(["anon", "authenticated"])
    );
}

#[tokio::test]
async fn foreign_table_in_api_is_quiet_when_revoked() {
    let found = lints(&format!(
        "{FOREIGN_SERVER}
         create foreign table public.remote (id int, v text) server lint_server;
         revoke all on public.remote from anon, authenticated;"
    ))
    .await;
    assert!(
        keys(&found, "foreign_table_in_api").is_empty(),
        "{found:#?}"
    );
}

#[tokio::test]
async fn partitions_are_judged_through_their_parent() {
    let found = lints(
        "create table public.measures (id int, at date, primary key (id, at)) partition by range (at);
         create table public.measures_2026 partition of public.measures
           for values from ('2026-01-01') to ('2027-01-01');
         alter table public.measures_2026 enable row level security;",
    )
    .await;
    assert_eq!(
        keys(&found, "rls_disabled_in_public"),
        vec!["rls_disabled_in_public_public_measures"],
        "{found:#?}"
    );
    assert!(
        keys(&found, "rls_enabled_no_policy").is_empty(),
        "{found:#?}"
    );
}

#[test]
fn every_lint_is_listed_once_errors_first() {
    let listed: Vec<_> = pgbase_advisors::available().collect();
    let mut names: Vec<&str> = listed.iter().map(|(n, _, _)| *n).collect();
    let levels: Vec<Level> = listed.iter().map(|(_, l, _)| *l).collect();
    let mut sorted = levels.clone();
    sorted.sort();
    assert_eq!(levels, sorted);
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before);
    assert_eq!(before, 16);
}
