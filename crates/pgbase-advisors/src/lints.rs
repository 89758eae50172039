//! The lint registry: one entry per lint with its fixed texts (name, title, level, categories,
//! description) and its SQL query, kept as a `.sql` file under `src/lints/`. Every query takes
//! the same two parameters, `$1 text[]` (the schemas the API exposes) and `$2 text[]` (pgbase's
//! and Postgres' system schemas, which the lints about user objects skip), and returns the
//! per-finding columns `detail, remediation, metadata, cache_key`.

use crate::Level;

/// Schemas whose objects belong to Postgres or pgbase, not to the application.
pub const SYSTEM_SCHEMAS: &[&str] = &[
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "auth",
    "extensions",
    "pgbase",
    "pgmq",
    "pgmq_public",
    "cron",
    "cron_runner",
    "net",
];

/// Where a remediation points for more on each lint.
pub(crate) const DOCS: &str = "README.md#advisors";

/// One lint: what it is called and says, and the query that finds its cases.
pub(crate) struct LintDef {
    pub name: &'static str,
    pub title: &'static str,
    pub level: Level,
    pub facing: &'static str,
    pub categories: &'static [&'static str],
    pub description: &'static str,
    pub sql: &'static str,
}

const SECURITY: &[&str] = &["SECURITY"];
const PERFORMANCE: &[&str] = &["PERFORMANCE"];

pub(crate) const LINTS: &[LintDef] = &[
    LintDef {
        name: "rls_disabled_in_public",
        title: "RLS Disabled in Public",
        level: Level::Error,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects tables in an exposed schema that anon or authenticated can reach while row-level security is disabled: every holder of the anon key can read (and, per the grants, change) every row.",
        sql: include_str!("lints/rls_disabled_in_public.sql"),
    },
    LintDef {
        name: "policy_exists_rls_disabled",
        title: "Policy Exists RLS Disabled",
        level: Level::Error,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects tables that have row-level-security policies while RLS is disabled, so the policies are not applied.",
        sql: include_str!("lints/policy_exists_rls_disabled.sql"),
    },
    LintDef {
        name: "auth_users_exposed",
        title: "Exposed Auth Users",
        level: Level::Error,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects tables of the auth schema (users, identities, sessions, refresh tokens) reachable through the API, through a view in an exposed schema or because auth itself is exposed.",
        sql: include_str!("lints/auth_users_exposed.sql"),
    },
    LintDef {
        name: "insecure_queue_exposed_in_api",
        title: "Insecure Queue Exposed in API",
        level: Level::Error,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects pgmq queue tables reachable through the API without row-level security: granted to anon/authenticated with pgmq or pgmq_public exposed, or read by a view in an exposed schema.",
        sql: include_str!("lints/insecure_queue_exposed_in_api.sql"),
    },
    LintDef {
        name: "security_definer_view",
        title: "Security Definer View",
        level: Level::Error,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects views in an exposed schema that run with their owner's privileges (no security_invoker), so the row-level security of the API caller does not apply to the tables they read.",
        sql: include_str!("lints/security_definer_view.sql"),
    },
    LintDef {
        name: "rls_references_user_metadata",
        title: "RLS References User Metadata",
        level: Level::Error,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects policies that read user metadata (auth.jwt() -> 'user_metadata', raw_user_meta_data), which users can edit themselves.",
        sql: include_str!("lints/rls_references_user_metadata.sql"),
    },
    LintDef {
        name: "security_definer_function_executable",
        title: "Security Definer Function Executable through the API",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects SECURITY DEFINER functions in an exposed schema that anon or authenticated may call as an RPC; they run with their owner's privileges and bypass the caller's row-level security.",
        sql: include_str!("lints/security_definer_function_executable.sql"),
    },
    LintDef {
        name: "materialized_view_in_api",
        title: "Materialized View in API",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects materialized views in an exposed schema that anon or authenticated can select from; materialized views have no row-level security.",
        sql: include_str!("lints/materialized_view_in_api.sql"),
    },
    LintDef {
        name: "foreign_table_in_api",
        title: "Foreign Table in API",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects foreign tables in an exposed schema that anon or authenticated can reach; foreign tables have no row-level security.",
        sql: include_str!("lints/foreign_table_in_api.sql"),
    },
    LintDef {
        name: "function_search_path_mutable",
        title: "Function Search Path Mutable",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects functions that do not pin their search_path, so the names they use resolve through the caller's search_path.",
        sql: include_str!("lints/function_search_path_mutable.sql"),
    },
    LintDef {
        name: "auth_rls_initplan",
        title: "Auth RLS Initialization Plan",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: PERFORMANCE,
        description: "Detects policies that call auth.uid(), auth.jwt(), auth.role(), auth.email() or current_setting() directly, so the call is evaluated for every row instead of once per query.",
        sql: include_str!("lints/auth_rls_initplan.sql"),
    },
    LintDef {
        name: "multiple_permissive_policies",
        title: "Multiple Permissive Policies",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: PERFORMANCE,
        description: "Detects tables with more than one permissive policy for the same role and action; each is evaluated for every row.",
        sql: include_str!("lints/multiple_permissive_policies.sql"),
    },
    LintDef {
        name: "duplicate_index",
        title: "Duplicate Index",
        level: Level::Warn,
        facing: "EXTERNAL",
        categories: PERFORMANCE,
        description: "Detects identical indexes on one table; all but one cost writes and space for nothing.",
        sql: include_str!("lints/duplicate_index.sql"),
    },
    LintDef {
        name: "rls_enabled_no_policy",
        title: "RLS Enabled No Policy",
        level: Level::Info,
        facing: "EXTERNAL",
        categories: SECURITY,
        description: "Detects tables with row-level security enabled and no policy: roles subject to RLS see and change nothing.",
        sql: include_str!("lints/rls_enabled_no_policy.sql"),
    },
    LintDef {
        name: "unindexed_foreign_keys",
        title: "Unindexed Foreign Keys",
        level: Level::Info,
        facing: "EXTERNAL",
        categories: PERFORMANCE,
        description: "Detects foreign keys without an index on their columns; joins along them and deletes of referenced rows scan the table.",
        sql: include_str!("lints/unindexed_foreign_keys.sql"),
    },
    LintDef {
        name: "no_primary_key",
        title: "No Primary Key",
        level: Level::Info,
        facing: "EXTERNAL",
        categories: PERFORMANCE,
        description: "Detects tables without a primary key; rows cannot be addressed reliably (upserts, GraphQL node ids, replication).",
        sql: include_str!("lints/no_primary_key.sql"),
    },
];
