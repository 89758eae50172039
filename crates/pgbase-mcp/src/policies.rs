//! The `check_policies` tool: one probe (select / insert / update / delete on a table, with
//! values and an equality filter, all bound as parameters) run as each of several subjects, each
//! in its own transaction that is rolled back, reported side by side: the rows each saw or
//! changed, or the error each got.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::conn::Connector;
use crate::context::Subject;
use crate::query::{QueryError, begin, sql_error};

/// One probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `table` or `schema.table`.
    pub table: String,
    /// select, insert, update or delete.
    pub action: String,
    /// Column values for insert and update.
    pub values: Map<String, Value>,
    /// `column = value` conditions, all of which must hold.
    pub filter: Map<String, Value>,
    pub max_rows: usize,
}

/// What one subject got.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran_as: Option<String>,
    /// Rows seen (select) or changed (insert/update/delete), when the probe succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

fn qualified(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, name)) => format!(
            "{}.{}",
            pgbase_sql::quote_ident(schema),
            pgbase_sql::quote_ident(name)
        ),
        None => pgbase_sql::quote_ident(table),
    }
}

/// The probe's SQL (values `$1`, filter `$2`, both JSON objects bound as parameters) and, for
/// writes, the same without RETURNING (for when the subject may write but not read back).
fn probe_sql(probe: &Probe) -> Result<(String, Option<String>), QueryError> {
    let table = qualified(&probe.table);
    let record = format!("json_populate_record(null::{table}, $2::json)");
    let filter = if probe.filter.is_empty() {
        "true".to_string()
    } else {
        probe
            .filter
            .keys()
            .map(|k| {
                let c = pgbase_sql::quote_ident(k);
                format!("t.{c} is not distinct from ({record}).{c}")
            })
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let columns: Vec<String> = probe
        .values
        .keys()
        .map(|k| pgbase_sql::quote_ident(k))
        .collect();
    let values = format!("json_populate_record(null::{table}, $1::json)");
    let limit = probe.max_rows;
    // Both parameters are always referenced, so their types are known even when unused.
    let params = "_p as (select $1::json as v, $2::json as f)";
    let wrap = |body: &str| {
        format!(
            "with {params}, w as ({body}) select count(*), coalesce(json_agg(x) filter (where x.n <= {limit}), '[]') \
             from (select row_number() over () as n, w.* from w) x"
        )
    };
    let write_only =
        |body: &str| format!("with {params}, w as ({body}) select count(*), null::json from w");
    Ok(match probe.action.as_str() {
        "select" => (
            wrap(&format!("select t.* from {table} t where {filter}")),
            None,
        ),
        "insert" => {
            if columns.is_empty() {
                return Err(QueryError::Refused("insert needs values".into()));
            }
            let list = columns.join(", ");
            let picked: Vec<String> = columns.iter().map(|c| format!("v.{c}")).collect();
            let body = format!(
                "insert into {table} ({list}) select {} from {values} v",
                picked.join(", ")
            );
            (
                wrap(&format!("{body} returning *")),
                Some(write_only(&format!("{body} returning 1"))),
            )
        }
        "update" => {
            if columns.is_empty() {
                return Err(QueryError::Refused("update needs values".into()));
            }
            let sets: Vec<String> = columns
                .iter()
                .map(|c| format!("{c} = ({values}).{c}"))
                .collect();
            let body = format!("update {table} t set {} where {filter}", sets.join(", "));
            (
                wrap(&format!("{body} returning t.*")),
                Some(write_only(&format!("{body} returning 1"))),
            )
        }
        "delete" => {
            let body = format!("delete from {table} t where {filter}");
            (
                wrap(&format!("{body} returning t.*")),
                Some(write_only(&format!("{body} returning 1"))),
            )
        }
        other => {
            return Err(QueryError::Refused(format!(
                "action must be select, insert, update or delete, not {other:?}"
            )));
        }
    })
}

/// Runs `probe` as each subject.
pub async fn run(
    connector: &Connector,
    probe: &Probe,
    subjects: &[Subject],
    schemas: &[String],
    timeout_ms: u64,
    read_only: bool,
) -> Result<Vec<Outcome>, QueryError> {
    if subjects.is_empty() {
        return Err(QueryError::Refused(
            "give at least one subject in `as`".into(),
        ));
    }
    let (sql, fallback) = probe_sql(probe)?;
    let values = Value::Object(probe.values.clone());
    let filter = Value::Object(probe.filter.clone());
    let mut outcomes = Vec::new();
    for subject in subjects {
        let lease = connector.get().await?;
        let mut outcome = Outcome {
            subject: subject.label(),
            ran_as: None,
            row_count: None,
            rows: None,
            note: None,
            error: None,
        };
        match begin(&lease, subject, read_only, schemas, timeout_ms).await {
            Ok(ran_as) => {
                outcome.ran_as = Some(ran_as);
                let _ = lease.batch_execute("savepoint probe").await;
                match lease.query_one(&sql, &[&values, &filter]).await {
                    Ok(row) => {
                        outcome.row_count = Some(row.get(0));
                        outcome.rows = row.get(1);
                    }
                    Err(e) => {
                        let readback_denied = e.code()
                            == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
                            && fallback.is_some();
                        let mut error = Some(e);
                        if readback_denied && let Some(fallback) = &fallback {
                            let _ = lease.batch_execute("rollback to savepoint probe").await;
                            if let Ok(row) = lease.query_one(fallback, &[&values, &filter]).await {
                                outcome.row_count = Some(row.get(0));
                                outcome.note = Some(
                                    "the write succeeded, but the rows cannot be read back (RETURNING needs a SELECT policy / privilege)".into(),
                                );
                                error = None;
                            }
                        }
                        if let Some(e) = error {
                            outcome.error = Some(error_json(
                                sql_error(&lease, e, &sql, usize::MAX, timeout_ms).await,
                            ));
                        }
                    }
                }
            }
            Err(e) => outcome.error = Some(error_json(e)),
        }
        let _ = lease.batch_execute("rollback").await;
        if !lease.is_closed() {
            lease.release();
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn error_json(error: QueryError) -> Value {
    match error.sql() {
        Some(sql) => serde_json::to_value(sql).unwrap_or(Value::Null),
        None => Value::String(error.to_string()),
    }
}
