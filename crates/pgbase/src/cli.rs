//! The command line: `pgbase dev | serve | migrate | keys | sql | mcp | explain | describe |
//! advisors | gen`, defined with clap. Settings
//! flags are shared through [`Settings`]; see README.md for the environment and file names.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "pgbase",
    version,
    about = "PostgreSQL as the whole backend: a PostgREST-compatible REST API, auth and jobs from SQL migrations",
    after_help = "Configuration: flags, then environment variables (PGBASE_*, DATABASE_URL, PostgREST's PGRST_* aliases), then pgbase.toml. See README.md."
)]
pub struct Cli {
    /// Config file [default: pgbase.toml in the project folder, if present]
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a private Postgres for a project folder, apply its migrations (and watch for new
    /// ones), and serve every API on 127.0.0.1:54321
    Dev {
        /// Project folder: migrations in DIR/migrations, local state in DIR/.pgbase. It must
        /// exist (a typo makes no empty project) unless --init is given
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Create DIR when it does not exist: start a new, empty project there
        #[arg(long)]
        init: bool,
        /// Wipe the local database first
        #[arg(long)]
        fresh: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Serve every API against an existing database (--db-url / DATABASE_URL; --jwt-secret required)
    Serve {
        #[command(flatten)]
        settings: Settings,
    },
    /// Install the system schemas and apply, list or create migrations
    Migrate {
        /// Project folder holding migrations/ (also accepted after the action: `new NAME --dir D`)
        #[arg(long, default_value = ".", global = true)]
        dir: PathBuf,
        /// Database URL [default: DATABASE_URL, or the running `pgbase dev` of DIR]
        #[arg(long, global = true)]
        db_url: Option<String>,
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Check a database for every capability (REST, auth, GraphQL, queue, cron, net, TLS,
    /// replicas): ready / missing X / fix Y; exits non-zero when something is missing
    Doctor {
        /// Project folder (its running `pgbase dev` is used when no URL is given)
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Database URL [default: DATABASE_URL, or the running `pgbase dev` of DIR]
        #[arg(long)]
        db_url: Option<String>,
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Print the anon and service_role API keys (JWTs signed with the project's secret)
    Keys {
        /// Project folder (its `pgbase dev` secret is used when no --jwt-secret is set)
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// HMAC secret [env: PGBASE_JWT_SECRET, PGRST_JWT_SECRET]
        #[arg(long)]
        jwt_secret: Option<String>,
    },
    /// Run SQL and print the results (as the database URL's user, an API role, or an end user)
    Sql {
        /// The SQL to run; several statements may be separated by `;`
        query: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        who: Who,
        /// Print rows as JSON objects with JSON types, one per line (with --role/--as-user: the
        /// whole result as JSON)
        #[arg(long)]
        json: bool,
    },
    /// MCP server on stdio for AI agents: SQL as any user, explain, describe, migrations, API calls,
    /// policy checks, advisors, types, logs
    Mcp {
        #[command(flatten)]
        target: Target,
        /// HMAC secret for signing API tokens (api_request) [env: PGBASE_JWT_SECRET; default: the
        /// `pgbase dev` secret of DIR]
        #[arg(long)]
        jwt_secret: Option<String>,
        /// Refuse every write: queries run read-only, migrations and API writes are refused
        #[arg(long)]
        read_only: bool,
        /// Allow migration_create / migration_apply against a database that is not the running
        /// `pgbase dev` of DIR
        #[arg(long)]
        allow_migrations: bool,
        /// Statement timeout per tool call, e.g. 30s, 500ms, 2min
        #[arg(long, default_value = "30s")]
        statement_timeout: String,
    },
    /// EXPLAIN ANALYZE a statement (rolled back) with a summary: seq scans, misestimates, index
    /// suggestions
    Explain {
        /// One SQL statement
        query: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        who: Who,
        /// Print the summary and plan as JSON
        #[arg(long)]
        json: bool,
    },
    /// Describe tables and views (columns, keys, indexes, RLS policies, API routes), functions,
    /// cron jobs and queues
    Describe {
        /// One table or view in depth (`name` or `schema.name`)
        table: Option<String>,
        #[command(flatten)]
        target: Target,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Security and performance lints over the live schema (the shape of Supabase's linter)
    Advisors {
        #[command(flatten)]
        target: Target,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Generate code from the live schema: `pgbase gen types typescript`
    Gen {
        /// What to generate
        #[arg(value_enum)]
        what: GenWhat,
        /// For which language
        #[arg(value_enum)]
        lang: GenLang,
        #[command(flatten)]
        target: Target,
    },
}

/// Which database a command talks to.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Project folder (to find a running `pgbase dev` and its migrations)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Database URL [default: DATABASE_URL, or the running `pgbase dev` of DIR]
    #[arg(long)]
    pub db_url: Option<String>,
}

/// Whom a command runs as (RLS applies as for that API request).
#[derive(Debug, Clone, clap::Args)]
pub struct Who {
    /// Run as this API role (anon, authenticated, service_role, or a role granted to authenticator)
    #[arg(long)]
    pub role: Option<String>,
    /// Run as this end user (auth.users id): role authenticated with the user's JWT claims
    #[arg(long, value_name = "UUID")]
    pub as_user: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GenWhat {
    Types,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GenLang {
    Typescript,
}

#[derive(Debug, Subcommand, Clone)]
pub enum MigrateAction {
    /// Apply the system schemas and every pending migration (the default)
    Up,
    /// List migrations: applied, pending, changed since applied, or missing
    Status,
    /// Create migrations/YYYYMMDDHHMMSS_NAME.sql
    New {
        /// Short name, e.g. add_todos
        name: String,
    },
}

impl Command {
    pub fn log_format(&self) -> Option<LogFormat> {
        match self {
            Command::Dev { settings, .. } | Command::Serve { settings } => settings.log_format,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_help() {
        let cli = Cli::command();
        for name in [
            "dev", "serve", "migrate", "keys", "sql", "mcp", "explain", "describe", "advisors",
            "gen",
        ] {
            let sub = cli.find_subcommand(name);
            assert!(
                sub.and_then(|s| s.get_about()).is_some(),
                "{name} has no help"
            );
        }
    }
}
