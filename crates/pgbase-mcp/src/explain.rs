//! The `explain` tool: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` inside a transaction that is
//! always rolled back (optionally as a user; read-only when the server is), plus a summary an agent can act on: total time,
//! sequential scans over tables above 1,000 rows with the filter that caused them, row
//! estimates off by more than 10×, and a `create index` for filter or join columns that no index
//! leads with.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tokio_postgres::Client;

use crate::conn::Connector;
use crate::context::Subject;
use crate::query::{QueryError, begin, sql_error};

/// Tables at or below this many rows are not worth an index note.
const BIG_TABLE_ROWS: f64 = 1000.0;

/// What `explain` returns.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainOutput {
    pub total_ms: f64,
    pub planning_ms: f64,
    pub execution_ms: f64,
    /// Findings, one sentence each.
    pub notes: Vec<String>,
    /// `create index …` statements that would serve the filters and joins seen.
    pub suggested_indexes: Vec<String>,
    pub ran_as: String,
    /// The plan as Postgres returned it.
    pub plan: Value,
}

/// A sequential scan found in the plan.
#[derive(Debug, Default)]
struct SeqScan {
    schema: String,
    table: String,
    alias: String,
    filter: Option<String>,
    /// Rows the scan read (kept plus removed by the filter), over all loops.
    scanned: f64,
    /// Join conditions of the joins above it.
    join_conditions: Vec<String>,
}

/// Runs `explain` for one statement.
pub async fn run(
    connector: &Connector,
    sql: &str,
    subject: &Subject,
    schemas: &[String],
    timeout_ms: u64,
    read_only: bool,
) -> Result<ExplainOutput, QueryError> {
    let statements = pgbase_migrate::split_statements(sql).len();
    if statements != 1 {
        return Err(QueryError::Refused(format!(
            "explain takes exactly one statement; this input has {statements}"
        )));
    }
    let mut lease = connector.get().await?;
    let result = explain_in(&lease, sql, subject, schemas, timeout_ms, read_only).await;
    let _ = lease.batch_execute("rollback").await;
    let result = match result {
        Ok((plan, ran_as)) => summarize(&lease, plan, ran_as).await,
        Err(e) => Err(e),
    };
    lease.take_notices();
    if !lease.is_closed() {
        lease.release();
    }
    result
}

const PREFIX: &str = "explain (analyze, buffers, format json) ";

async fn explain_in(
    client: &Client,
    sql: &str,
    subject: &Subject,
    schemas: &[String],
    timeout_ms: u64,
    read_only: bool,
) -> Result<(Value, String), QueryError> {
    let ran_as = begin(client, subject, read_only, schemas, timeout_ms).await?;
    let text = format!("{PREFIX}{sql}");
    let messages = match client.simple_query(&text).await {
        Ok(m) => m,
        Err(e) => {
            return Err(sql_error(client, e, sql, PREFIX.chars().count(), timeout_ms).await);
        }
    };
    let json = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    let plan: Value = json
        .and_then(|j| serde_json::from_str(&j).ok())
        .ok_or_else(|| QueryError::Refused("EXPLAIN returned no plan".into()))?;
    Ok((plan, ran_as))
}

/// Facts about one table: its estimated rows, its columns and the first column of each index.
struct TableFacts {
    reltuples: f64,
    columns: Vec<String>,
    leading: Vec<String>,
}

async fn table_facts(client: &Client, schema: &str, table: &str) -> Option<TableFacts> {
    let row = client
        .query_opt(
            "select greatest(c.reltuples, 0)::float8, \
                    array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum), \
                    array(select a.attname::text from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0] where i.indrelid = c.oid) \
               from pg_class c where c.oid = to_regclass(format('%I.%I', $1::text, $2::text))",
            &[&schema, &table],
        )
        .await
        .ok()
        .flatten()?;
    Some(TableFacts {
        reltuples: row.get(0),
        columns: row.get(1),
        leading: row.get(2),
    })
}

async fn summarize(
    client: &Client,
    plan: Value,
    ran_as: String,
) -> Result<ExplainOutput, QueryError> {
    let top = plan.get(0).cloned().unwrap_or(Value::Null);
    let planning_ms = top["Planning Time"].as_f64().unwrap_or(0.0);
    let execution_ms = top["Execution Time"].as_f64().unwrap_or(0.0);
    let mut scans = Vec::new();
    let mut notes = Vec::new();
    walk(&top["Plan"], &[], &mut scans, &mut notes);
    let mut suggested = Vec::new();
    let mut facts_cache: BTreeMap<(String, String), Option<TableFacts>> = BTreeMap::new();
    for scan in &scans {
        let key = (scan.schema.clone(), scan.table.clone());
        if !facts_cache.contains_key(&key) {
            let facts = table_facts(client, &scan.schema, &scan.table).await;
            facts_cache.insert(key.clone(), facts);
        }
        let Some(Some(facts)) = facts_cache.get(&key) else {
            continue;
        };
        let rows = facts.reltuples.max(scan.scanned);
        if rows <= BIG_TABLE_ROWS {
            continue;
        }
        let qualified = format!(
            "{}.{}",
            pgbase_sql::quote_ident(&scan.schema),
            pgbase_sql::quote_ident(&scan.table)
        );
        let mut wanted: Vec<String> = Vec::new();
        if let Some(filter) = &scan.filter {
            for name in identifiers(filter) {
                let bare = name.rsplit('.').next().unwrap_or(&name).to_string();
                if facts.columns.contains(&bare) && !wanted.contains(&bare) {
                    wanted.push(bare);
                }
            }
        }
        for condition in &scan.join_conditions {
            for name in identifiers(condition) {
                if let Some((alias, column)) = name.split_once('.')
                    && (alias == scan.alias || alias == scan.table)
                    && facts.columns.iter().any(|c| c == column)
                    && !wanted.iter().any(|w| w == column)
                {
                    wanted.push(column.to_string());
                }
            }
        }
        let why = match &scan.filter {
            Some(filter) => format!(" with filter {filter}"),
            None if !scan.join_conditions.is_empty() => {
                format!(" for join {}", scan.join_conditions.join(" and "))
            }
            None => String::new(),
        };
        notes.push(format!(
            "Seq Scan on {qualified} (about {rows:.0} rows){why}: the whole table is read"
        ));
        let unindexed: Vec<&String> = wanted
            .iter()
            .filter(|c| !facts.leading.contains(c))
            .take(3)
            .collect();
        if !unindexed.is_empty() && unindexed.len() == wanted.len().min(3) {
            let columns: Vec<String> = unindexed
                .iter()
                .map(|c| pgbase_sql::quote_ident(c))
                .collect();
            let statement = format!("create index on {qualified} ({});", columns.join(", "));
            if !suggested.contains(&statement) {
                suggested.push(statement);
            }
        }
    }
    Ok(ExplainOutput {
        total_ms: planning_ms + execution_ms,
        planning_ms,
        execution_ms,
        notes,
        suggested_indexes: suggested,
        ran_as,
        plan,
    })
}

/// Collects sequential scans and estimate misses from `node` and its children; `joins` holds
/// the join conditions of the nodes above.
fn walk(node: &Value, joins: &[String], scans: &mut Vec<SeqScan>, notes: &mut Vec<String>) {
    let Some(kind) = node["Node Type"].as_str() else {
        return;
    };
    let loops = node["Actual Loops"].as_f64().unwrap_or(0.0);
    let actual = node["Actual Rows"].as_f64().unwrap_or(0.0);
    let estimated = node["Plan Rows"].as_f64().unwrap_or(0.0);
    let relation = node["Relation Name"].as_str();
    let label = match relation {
        Some(r) => format!("{kind} on {r}"),
        None => kind.to_string(),
    };
    if loops > 0.0 {
        let (low, high) = if actual < estimated {
            (actual, estimated)
        } else {
            (estimated, actual)
        };
        if high >= 10.0 && high / low.max(1.0) > 10.0 {
            let fix = match relation {
                Some(r) => format!("; run ANALYZE {r} if its statistics are stale"),
                None => String::new(),
            };
            notes.push(format!(
                "{label}: estimated {estimated:.0} rows, got {actual:.0} ({:.0}x off){fix}",
                high / low.max(1.0)
            ));
        }
    }
    let mut below: Vec<String> = joins.to_vec();
    for key in ["Hash Cond", "Merge Cond", "Join Filter", "Index Cond"] {
        if let Some(condition) = node[key].as_str() {
            below.push(condition.to_string());
        }
    }
    if kind == "Seq Scan"
        && let Some(table) = relation
    {
        let removed = node["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
        scans.push(SeqScan {
            schema: node["Schema"].as_str().unwrap_or("public").to_string(),
            table: table.to_string(),
            alias: node["Alias"].as_str().unwrap_or(table).to_string(),
            filter: node["Filter"].as_str().map(str::to_string),
            scanned: (actual + removed) * loops.max(1.0),
            join_conditions: joins.to_vec(),
        });
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            walk(child, &below, scans, notes);
        }
    }
}

/// The identifiers of a plan expression (`alias.column` kept together), leaving out string
/// literals, function names and type names after `::`.
fn identifiers(expression: &str) -> Vec<String> {
    let chars: Vec<char> = expression.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_cast = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            after_cast = true;
            i += 2;
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '"' {
            let mut name = String::new();
            loop {
                if chars.get(i) == Some(&'"') {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        name.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len()
                        && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                    {
                        name.push(chars[i]);
                        i += 1;
                    }
                }
                if chars.get(i) == Some(&'.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_alphabetic() || *n == '_' || *n == '"')
                {
                    name.push('.');
                    i += 1;
                    continue;
                }
                break;
            }
            let is_call = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
            if !after_cast && !is_call {
                out.push(name);
            }
            after_cast = false;
            continue;
        }
        if !c.is_whitespace() {
            after_cast = false;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_skip_literals_casts_and_calls() {
        assert_eq!(identifiers("((status)::text = 'open'::text)"), ["status"]);
        assert_eq!(identifiers("(lower(email) = 'a b'::text)"), ["email"]);
        assert_eq!(identifiers("(t.user_id = u.id)"), ["t.user_id", "u.id"]);
        assert_eq!(identifiers("(\"Owner\" = 3)"), ["Owner"]);
    }
}
