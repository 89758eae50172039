//! The agent interface of pgbase: an MCP server (Model Context Protocol, on the official `rmcp`
//! SDK) whose tools let an agent build and operate the backend — run SQL as any API role or end
//! user under RLS, EXPLAIN with advice, describe the schema with its policies and API routes,
//! write and apply migrations, call the HTTP API in-process, probe policies for several users,
//! run the advisors, generate TypeScript types and read recent failures.
//!
//! [`Backend`] holds the tools' logic and is what the CLI mirrors (`pgbase sql --as-user`,
//! `pgbase explain`, `pgbase describe`, …) call directly; [`PgbaseMcp`] is the rmcp server over
//! it, served on stdio by `pgbase mcp` and over streamable HTTP at `/mcp` by the running server.

pub mod api;
pub mod conn;
pub mod context;
pub mod describe;
pub mod explain;
pub mod logs;
pub mod migrations;
pub mod policies;
pub mod query;
pub mod suggest;
mod tools;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use api::ApiTarget;
pub use conn::Connector;
pub use context::Subject;
pub use logs::RequestLog;
pub use query::{QueryError, QueryOutput, QueryRequest, SqlError};
pub use tools::PgbaseMcp;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project folder (its `migrations/`), when known.
    pub project_dir: Option<PathBuf>,
    /// Whether `migration_create` / `migration_apply` may run (a `pgbase dev` project, or
    /// `--allow-migrations`).
    pub allow_migrations: bool,
    /// Whole-server read-only mode: every query, EXPLAIN and policy probe in a read-only
    /// transaction, no migrations, API reads only.
    pub read_only: bool,
    /// Per-call statement timeout.
    pub statement_timeout: Duration,
    /// The schemas the API exposes (REST routes, GraphQL fields, search path, advisors, types).
    pub schemas: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            project_dir: None,
            allow_migrations: false,
            read_only: false,
            statement_timeout: Duration::from_secs(30),
            schemas: vec!["public".to_string()],
        }
    }
}

/// The default cut of `query` results.
pub const DEFAULT_MAX_ROWS: usize = 200;

/// Failures of the advisor and type-generator calls.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Query(#[from] QueryError),
    #[error("{0}")]
    Migration(#[from] migrations::MigrationError),
    #[error("{0}")]
    Api(#[from] api::ApiError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Advisors(String),
    #[error("{0}")]
    Typegen(String),
}

/// Everything the tools need (cheap to clone).
#[derive(Clone)]
pub struct Backend {
    pub connector: Connector,
    pub options: Arc<Options>,
    pub api: Option<ApiTarget>,
    pub request_log: Option<Arc<RequestLog>>,
}

impl Backend {
    pub fn new(db: impl Into<pgbase_db::ConnectConfig>, options: Options) -> Backend {
        Backend {
            connector: Connector::new(db),
            options: Arc::new(options),
            api: None,
            request_log: None,
        }
    }

    /// Lets `api_request` call this router (the server's API, without `/mcp`).
    pub fn with_api(mut self, api: ApiTarget) -> Backend {
        self.api = Some(api);
        self
    }

    /// Lets `logs` report the server's failed requests.
    pub fn with_request_log(mut self, log: Arc<RequestLog>) -> Backend {
        self.request_log = Some(log);
        self
    }

    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.options.statement_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs SQL (read-only when the server is).
    pub async fn query(&self, mut request: QueryRequest) -> Result<QueryOutput, QueryError> {
        request.read_only |= self.options.read_only;
        query::run(
            &self.connector,
            &request,
            &self.options.schemas,
            self.timeout_ms(),
        )
        .await
    }

    pub async fn explain(
        &self,
        sql: &str,
        subject: &Subject,
    ) -> Result<explain::ExplainOutput, QueryError> {
        explain::run(
            &self.connector,
            sql,
            subject,
            &self.options.schemas,
            self.timeout_ms(),
            self.options.read_only,
        )
        .await
    }

    pub async fn describe(
        &self,
        schemas: &[String],
        table: Option<&str>,
    ) -> Result<describe::Description, QueryError> {
        describe::run(&self.connector, schemas, &self.options.schemas, table).await
    }

    pub async fn check_policies(
        &self,
        probe: &policies::Probe,
        subjects: &[Subject],
    ) -> Result<Vec<policies::Outcome>, QueryError> {
        policies::run(
            &self.connector,
            probe,
            subjects,
            &self.options.schemas,
            self.timeout_ms(),
            self.options.read_only,
        )
        .await
    }

    fn migrations_dir(&self) -> Result<PathBuf, ToolError> {
        self.options
            .project_dir
            .as_ref()
            .map(|d| d.join("migrations"))
            .ok_or_else(|| {
                ToolError::Refused(
                    "this server has no project folder (start it with `pgbase mcp --dir DIR`)"
                        .into(),
                )
            })
    }

    fn may_migrate(&self) -> Result<(), ToolError> {
        if self.options.read_only {
            return Err(ToolError::Refused(
                "the MCP server runs read-only (--read-only): migrations are refused".into(),
            ));
        }
        if !self.options.allow_migrations {
            return Err(ToolError::Refused(
                "creating and applying migrations is only allowed against a `pgbase dev` project \
                 or with `pgbase mcp --allow-migrations`"
                    .into(),
            ));
        }
        Ok(())
    }

    pub async fn list_migrations(&self) -> Result<Vec<migrations::MigrationRow>, ToolError> {
        let dir = self.migrations_dir()?;
        Ok(migrations::list(&self.connector, &dir).await?)
    }

    pub fn migration_create(&self, name: &str, sql: &str) -> Result<PathBuf, ToolError> {
        self.may_migrate()?;
        let dir = self.migrations_dir()?;
        Ok(migrations::create(&dir, name, sql)?)
    }

    pub async fn migration_apply(&self) -> Result<migrations::ApplyOutput, ToolError> {
        self.may_migrate()?;
        let dir = self.migrations_dir()?;
        Ok(migrations::apply(&self.connector, &dir).await?)
    }

    /// Calls the HTTP API in-process as `call.subject` (anon when it names nobody).
    pub async fn api_request(&self, call: &api::ApiCall) -> Result<api::ApiResponse, ToolError> {
        let target = self.api.as_ref().ok_or_else(|| {
            ToolError::Refused(
                "api_request needs the project's JWT secret: run against a `pgbase dev` project \
                 (--dir) or pass --jwt-secret"
                    .into(),
            )
        })?;
        let claims = if call.subject.is_none() {
            serde_json::json!({"role": "anon", "iss": "pgbase"})
        } else {
            let lease = self.connector.get().await.map_err(QueryError::from)?;
            let identity = context::resolve(&lease, &call.subject).await;
            if !lease.is_closed() {
                lease.release();
            }
            match identity.map_err(QueryError::from)? {
                Some(identity) => identity.claims,
                None => serde_json::json!({"role": "anon"}),
            }
        };
        Ok(api::call(target, call, &claims, self.options.read_only).await?)
    }

    /// The advisors' findings over the exposed schemas.
    pub async fn advisors(&self) -> Result<Vec<pgbase_advisors::Lint>, ToolError> {
        let lease = self.connector.get().await.map_err(QueryError::from)?;
        let run = pgbase_advisors::run(&lease, &self.options.schemas);
        let result = catch_unfinished(run).await;
        if result.is_ok() && !lease.is_closed() {
            lease.release();
        }
        match result {
            Ok(Ok(lints)) => Ok(lints),
            Ok(Err(e)) => Err(ToolError::Advisors(e.to_string())),
            Err(panic) => Err(ToolError::Advisors(panic)),
        }
    }

    /// TypeScript types for supabase-js over the exposed schemas.
    pub async fn generate_types(&self) -> Result<String, ToolError> {
        let lease = self.connector.get().await.map_err(QueryError::from)?;
        let run = pgbase_typegen::typescript(&lease, &self.options.schemas);
        let result = catch_unfinished(run).await;
        if result.is_ok() && !lease.is_closed() {
            lease.release();
        }
        match result {
            Ok(Ok(types)) => Ok(types),
            Ok(Err(e)) => Err(ToolError::Typegen(e.to_string())),
            Err(panic) => Err(ToolError::Typegen(panic)),
        }
    }

    pub async fn logs(&self, limit: i64) -> Result<logs::Logs, QueryError> {
        logs::run(&self.connector, self.request_log.as_deref(), limit).await
    }
}

/// Runs `future`, turning a panic (a `todo!()` in a crate still being written) into its message
/// instead of taking the server down.
async fn catch_unfinished<T>(future: impl std::future::Future<Output = T>) -> Result<T, String> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the call panicked".to_string());
            format!("{text} (the call panicked; the server keeps running)")
        })
}
