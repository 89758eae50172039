//! The `query` tool: runs SQL as the login, an API role or an end user (the same request context
//! REST uses), optionally in a read-only transaction, with a statement timeout, and returns
//! columns with their Postgres types, rows (cut at `max_rows`, saying so), the row count, the
//! server's notices and the duration. Failures come back as [`SqlError`]: SQLSTATE, message,
//! detail, hint, the position as line:col with the line and a caret, and the closest existing
//! names for an unknown column, table or function.

use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::conn::{ConnError, Connector, Lease};
use crate::context::{self, ContextError, Subject};

/// What a `query` call asks for.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub sql: String,
    pub subject: Subject,
    pub read_only: bool,
    pub max_rows: usize,
}

/// A Postgres error, located in the SQL that caused it.
#[derive(Debug, Clone, Serialize)]
pub struct SqlError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// `line:col` (1-based) in the SQL sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    /// The source line and a caret under the position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub did_you_mean: Vec<String>,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {}: {}", self.code, self.message)?;
        if let Some(position) = &self.position {
            write!(f, "\n  at {position}")?;
        }
        if let Some(context) = &self.context {
            write!(f, "\n{context}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "\ndetail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        if !self.did_you_mean.is_empty() {
            write!(f, "\ndid you mean: {}?", self.did_you_mean.join(", "))?;
        }
        Ok(())
    }
}

/// Why a tool that runs SQL failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Sql(Box<SqlError>),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("database connection failed: {0}")]
    Io(String),
}

impl QueryError {
    /// The structured SQL error, when it is one.
    pub fn sql(&self) -> Option<&SqlError> {
        match self {
            QueryError::Sql(e) => Some(e),
            _ => None,
        }
    }
}

/// One result column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    /// The Postgres type name, or `unknown` when the batch had several statements.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// What a `query` returned.
#[derive(Debug, Clone, Serialize)]
pub struct QueryOutput {
    pub columns: Vec<Column>,
    pub rows: Vec<Map<String, Value>>,
    /// Rows returned (or affected, for a statement without rows).
    pub row_count: u64,
    /// Set when the result was cut at `max_rows`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    pub duration_ms: f64,
    /// Who the SQL ran as.
    pub ran_as: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Turns a driver error into a [`QueryError`], locating it in `sql` (whose first `offset`
/// characters were a prefix pgbase added) and looking up suggestions.
pub async fn sql_error(
    client: &Client,
    error: tokio_postgres::Error,
    sql: &str,
    offset: usize,
    timeout_ms: u64,
) -> QueryError {
    let Some(db) = error.as_db_error() else {
        return QueryError::Io(error.to_string());
    };
    let mut out = SqlError {
        code: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        hint: db.hint().map(str::to_string),
        position: None,
        context: None,
        did_you_mean: Vec::new(),
    };
    if let Some(tokio_postgres::error::ErrorPosition::Original(position)) = db.position() {
        let position = (*position as usize).saturating_sub(1);
        if position >= offset {
            let location = pgbase_migrate::locate_offset(sql, position - offset);
            out.position = Some(format!("{}:{}", location.line, location.column));
            out.context = Some(caret(location.line, location.column, &location.line_text));
        }
    }
    if out.code == "57014" && out.hint.is_none() {
        out.hint = Some(format!(
            "the MCP server cancels statements after {timeout_ms} ms (--statement-timeout)"
        ));
    }
    if matches!(out.code.as_str(), "42703" | "42P01" | "42883") {
        // After a failed statement the transaction is aborted; ask outside it.
        let _ = client.batch_execute("rollback").await;
        if let Ok(names) = crate::suggest::suggestions_for(client, &out.code, &out.message).await {
            out.did_you_mean = names;
        }
    }
    QueryError::Sql(Box::new(out))
}

/// `N | line` and a caret under column `column`.
pub fn caret(line: usize, column: usize, text: &str) -> String {
    let gutter = format!("{line} | ");
    let pad: String = text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("{gutter}{text}\n{}{pad}^", " ".repeat(gutter.len()))
}

/// Converts a text value of a Postgres type to JSON: numbers, booleans and JSON as such, the
/// rest as strings.
fn to_json(type_name: &str, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match type_name {
        "int2" | "int4" | "int8" | "oid" => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| text.into()),
        "float4" | "float8" => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| text.into()),
        "bool" => Value::Bool(text == "t"),
        "json" | "jsonb" => serde_json::from_str(text).unwrap_or_else(|_| text.into()),
        _ => text.into(),
    }
}

/// Begins the tool's transaction and applies the statement timeout and, for a subject, the
/// request context. Returns who it runs as.
pub async fn begin(
    client: &Client,
    subject: &Subject,
    read_only: bool,
    schemas: &[String],
    timeout_ms: u64,
) -> Result<String, QueryError> {
    let identity = context::resolve(client, subject).await?;
    client
        .batch_execute(if read_only {
            "begin read only"
        } else {
            "begin"
        })
        .await
        .map_err(|e| QueryError::Io(e.to_string()))?;
    match identity {
        Some(identity) => {
            let ctx = match context::request_context(client, &identity, schemas, timeout_ms).await {
                Ok(ctx) => ctx,
                Err(e) => {
                    let _ = client.batch_execute("rollback").await;
                    return Err(e.into());
                }
            };
            if let Err(e) = client
                .query(pgbase_db::PRELUDE, &ctx.prelude_params())
                .await
            {
                return Err(sql_error(client, e, "", usize::MAX, timeout_ms).await);
            }
            Ok(match &subject.user_id {
                Some(user) => format!("user {user} (role {})", identity.role),
                None => format!("role {}", identity.role),
            })
        }
        None => {
            let timeout = format!("{timeout_ms}ms");
            client
                .query(
                    "select set_config('statement_timeout', $1, true)",
                    &[&timeout],
                )
                .await
                .map_err(|e| QueryError::Io(e.to_string()))?;
            Ok("database login".to_string())
        }
    }
}

/// Whether the first word of `sql` (after comments and parentheses) starts a query a cursor
/// can be declared for.
fn cursor_friendly(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(word.as_str(), "select" | "with" | "values" | "table")
}

/// Runs a `query` tool call.
pub async fn run(
    connector: &Connector,
    request: &QueryRequest,
    schemas: &[String],
    timeout_ms: u64,
) -> Result<QueryOutput, QueryError> {
    let statements = pgbase_migrate::split_statements(&request.sql).len();
    if statements == 0 {
        return Err(QueryError::Refused("no SQL statement given".into()));
    }
    if request.read_only && statements > 1 {
        return Err(QueryError::Refused(format!(
            "read_only runs exactly one statement; this input has {statements}. Send them one at a time"
        )));
    }
    let started = Instant::now();
    let mut lease = connector.get().await?;
    let result = run_in(&mut lease, request, statements, schemas, timeout_ms).await;
    let notices = lease.take_notices();
    if result.is_err() {
        // An error leaves the transaction aborted (or open, when refused): end it.
        let _ = lease.batch_execute("rollback").await;
    }
    let idle = !lease.is_closed();
    if idle {
        lease.release();
    }
    let mut output = result?;
    output.notices = notices;
    output.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(output)
}

async fn run_in(
    client: &mut Lease,
    request: &QueryRequest,
    statements: usize,
    schemas: &[String],
    timeout_ms: u64,
) -> Result<QueryOutput, QueryError> {
    let sql = request.sql.as_str();
    let max = request.max_rows;
    let ran_as = begin(
        client,
        &request.subject,
        request.read_only,
        schemas,
        timeout_ms,
    )
    .await?;
    let mut output = QueryOutput {
        columns: Vec::new(),
        rows: Vec::new(),
        row_count: 0,
        truncated: None,
        notices: Vec::new(),
        duration_ms: 0.0,
        ran_as,
        note: None,
    };
    if statements == 1 {
        let statement = match client.prepare(sql).await {
            Ok(statement) => Some(statement),
            // A split the splitter missed: let the simple protocol run the batch.
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::SYNTAX_ERROR)
                    && e.as_db_error()
                        .is_some_and(|d| d.message().contains("multiple commands")) =>
            {
                if request.read_only {
                    return Err(QueryError::Refused(
                        "read_only runs exactly one statement; this input has several".into(),
                    ));
                }
                let _ = client.batch_execute("rollback").await;
                begin(client, &request.subject, false, schemas, timeout_ms).await?;
                None
            }
            Err(e) => return Err(sql_error(client, e, sql, 0, timeout_ms).await),
        };
        if let Some(statement) = statement {
            output.columns = statement
                .columns()
                .iter()
                .map(|c| Column {
                    name: c.name().to_string(),
                    type_name: c.type_().name().to_string(),
                })
                .collect();
            if !output.columns.is_empty() && cursor_friendly(sql) {
                let declared = client
                    .batch_execute(&format!(
                        "savepoint pgbase_mcp; declare pgbase_mcp_rows no scroll cursor for {sql}"
                    ))
                    .await;
                if declared.is_ok() {
                    let fetched = client
                        .simple_query(&format!("fetch forward {} from pgbase_mcp_rows", max + 1))
                        .await;
                    let messages = match fetched {
                        Ok(messages) => messages,
                        Err(e) => {
                            return Err(sql_error(client, e, sql, usize::MAX, timeout_ms).await);
                        }
                    };
                    collect_rows(&messages, &mut output, max);
                    if output.truncated.is_some() {
                        output.truncated = Some(format!(
                            "more than {max} rows; only the first {max} are shown (raise max_rows or add a limit)"
                        ));
                    }
                    return finish(client, request, output, sql, timeout_ms).await;
                }
                let _ = client
                    .batch_execute("rollback to savepoint pgbase_mcp")
                    .await;
            }
        }
    }
    let messages = match client.simple_query(sql).await {
        Ok(messages) => messages,
        Err(e) => {
            let outside = e.code()
                == Some(&tokio_postgres::error::SqlState::ACTIVE_SQL_TRANSACTION)
                && statements == 1
                && request.subject.is_none()
                && !request.read_only;
            if !outside {
                return Err(sql_error(client, e, sql, 0, timeout_ms).await);
            }
            // VACUUM, CREATE INDEX CONCURRENTLY …: run it on its own, with a session timeout.
            let _ = client.batch_execute("rollback").await;
            let timeout = format!("{timeout_ms}ms");
            client
                .query(
                    "select set_config('statement_timeout', $1, false)",
                    &[&timeout],
                )
                .await
                .map_err(|e| QueryError::Io(e.to_string()))?;
            let result = client.simple_query(sql).await;
            let _ = client.batch_execute("reset statement_timeout").await;
            output.note = Some("ran outside a transaction block, as the statement requires".into());
            match result {
                Ok(messages) => messages,
                Err(e) => return Err(sql_error(client, e, sql, 0, timeout_ms).await),
            }
        }
    };
    collect_rows(&messages, &mut output, max);
    if statements > 1 && !output.rows.is_empty() {
        output.note = Some(format!(
            "{statements} statements ran; the rows are the last result set's, and types are unknown in a batch"
        ));
    }
    finish(client, request, output, sql, timeout_ms).await
}

async fn finish(
    client: &Client,
    request: &QueryRequest,
    output: QueryOutput,
    sql: &str,
    timeout_ms: u64,
) -> Result<QueryOutput, QueryError> {
    let end = if request.read_only {
        "rollback"
    } else {
        "commit"
    };
    if let Err(e) = client.batch_execute(end).await {
        return Err(sql_error(client, e, sql, usize::MAX, timeout_ms).await);
    }
    Ok(output)
}

/// Keeps the last result set of `messages` (its first `max` rows) in `output`.
fn collect_rows(messages: &[SimpleQueryMessage], output: &mut QueryOutput, max: usize) {
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    let mut seen: u64 = 0;
    let mut names: Vec<String> = Vec::new();
    let known_types = !output.columns.is_empty();
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                rows.clear();
                seen = 0;
                names = columns.iter().map(|c| c.name().to_string()).collect();
                if !known_types || output.columns.len() != names.len() {
                    output.columns = names
                        .iter()
                        .map(|n| Column {
                            name: n.clone(),
                            type_name: "unknown".into(),
                        })
                        .collect();
                }
            }
            SimpleQueryMessage::Row(row) => {
                seen += 1;
                if rows.len() < max {
                    let mut object = Map::new();
                    for (i, column) in output.columns.iter().enumerate() {
                        let mut key = column.name.clone();
                        while object.contains_key(&key) {
                            key.push('_');
                        }
                        object.insert(key, to_json(&column.type_name, row.get(i)));
                    }
                    rows.push(object);
                }
            }
            SimpleQueryMessage::CommandComplete(count) => {
                output.row_count = *count;
            }
            _ => {}
        }
    }
    if !names.is_empty() {
        output.row_count = seen.min(max as u64);
        if seen > max as u64 {
            output.truncated = Some(format!(
                "{seen} rows; only the first {max} are shown (raise max_rows or add a limit)"
            ));
        }
        output.rows = rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_sits_under_the_column() {
        assert_eq!(
            caret(2, 8, "select titel"),
            "2 | select titel\n           ^"
        );
    }

    #[test]
    fn cursors_are_used_for_plain_queries_only() {
        assert!(cursor_friendly("  -- c\n (select 1)"));
        assert!(cursor_friendly("WITH x as (select 1) select * from x"));
        assert!(!cursor_friendly("insert into t values (1) returning *"));
    }

    #[test]
    fn values_keep_their_json_types() {
        assert_eq!(to_json("int8", Some("42")), Value::from(42));
        assert_eq!(to_json("bool", Some("f")), Value::Bool(false));
        assert_eq!(to_json("jsonb", Some("{\"a\":1}"))["a"], 1);
        assert_eq!(to_json("numeric", Some("1.50")), Value::from("1.50"));
        assert_eq!(to_json("text", None), Value::Null);
    }
}
