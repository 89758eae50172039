//! The agent commands: `pgbase mcp` (the MCP server of `pgbase-mcp` on stdio, with the API
//! router built in-process for `api_request`) and its human mirrors — `pgbase sql --role/
//! --as-user`, `explain`, `describe`, `advisors` — printing aligned text (headers, notes and
//! lint levels in colour when stdout is a terminal and `NO_COLOR` is unset) or JSON with `--json`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::Value;

use crate::cli::Who;
use crate::config::{Config, Settings};
use crate::{commands, db, dev, runtime, server};

/// The `pgbase mcp` switches.
#[derive(Debug, Clone, Copy)]
pub struct Flags {
    pub read_only: bool,
    pub allow_migrations: bool,
    pub statement_timeout: Duration,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            read_only: false,
            allow_migrations: false,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// `30s`, `500ms`, `2min`, or plain seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = text[digits.len()..].trim();
    let n: u64 = digits
        .parse()
        .with_context(|| format!("invalid duration {text:?}: use e.g. 30s, 500ms, 2min"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "min" | "m" => Duration::from_secs(n * 60),
        _ => {
            return Err(anyhow!(
                "invalid duration {text:?}: use e.g. 30s, 500ms, 2min"
            ));
        }
    })
}

fn schemas(settings: &Settings) -> Vec<String> {
    settings
        .db_schemas
        .as_deref()
        .unwrap_or("public")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The tools' backend for `url`. Migrations are allowed against the running `pgbase dev` of
/// `dir` (no database URL configured) or with `--allow-migrations`.
pub fn backend(
    dir: &Path,
    settings: &Settings,
    url: &str,
    flags: Flags,
) -> anyhow::Result<pgbase_mcp::Backend> {
    let dev_project = settings.db_url.is_none();
    let options = pgbase_mcp::Options {
        project_dir: Some(dir.to_path_buf()),
        allow_migrations: (dev_project || flags.allow_migrations) && !flags.read_only,
        read_only: flags.read_only,
        statement_timeout: flags.statement_timeout,
        schemas: schemas(settings),
    };
    Ok(pgbase_mcp::Backend::new(db::parse_url(url)?, options))
}

/// `pgbase mcp`: serves the tools on stdin/stdout until the client hangs up.
pub async fn serve_stdio(dir: &Path, settings: Settings, flags: Flags) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let url = commands::database_url(dir, settings.db_url.clone())?;
    let mut backend = backend(dir, &settings, &url, flags)?;
    let secret = match settings.jwt_secret.clone() {
        Some(secret) => Some(secret),
        None => {
            let path = dev::secret_path(dir);
            if path.exists() {
                Some(crate::keys::load_or_create_secret(&path)?)
            } else {
                None
            }
        }
    };
    if let Some(secret) = secret {
        let dev_project = settings.db_url.is_none();
        let config = Config::from_settings(settings, url, secret.clone(), dev_project)?;
        let state = runtime::start(config).await?;
        runtime::wait_for_schema_cache(&state, Duration::from_secs(10)).await;
        backend = backend.with_api(pgbase_mcp::ApiTarget {
            router: server::app(state),
            jwt_secret: secret,
        });
    } else {
        tracing::warn!(
            "no JWT secret (--jwt-secret, PGBASE_JWT_SECRET or a `pgbase dev` project): api_request is off"
        );
    }
    let service = pgbase_mcp::PgbaseMcp::new(backend)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow!("MCP initialisation failed: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| anyhow!("MCP server stopped: {e}"))?;
    Ok(())
}

fn subject(who: &Who) -> pgbase_mcp::Subject {
    pgbase_mcp::Subject {
        role: who.role.clone(),
        user_id: who.as_user.clone(),
        claims: None,
    }
}

/// `pgbase sql --role/--as-user`.
pub async fn sql(
    backend: &pgbase_mcp::Backend,
    query: &str,
    who: &Who,
    json: bool,
) -> anyhow::Result<()> {
    let output = backend
        .query(pgbase_mcp::QueryRequest {
            sql: query.to_string(),
            subject: subject(who),
            read_only: false,
            max_rows: 100_000,
        })
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    for notice in &output.notices {
        eprintln!("{notice}");
    }
    if output.columns.is_empty() {
        println!("OK ({} rows)", output.row_count);
    } else {
        let header: Vec<String> = output.columns.iter().map(|c| c.name.clone()).collect();
        let rows: Vec<Vec<String>> = output
            .rows
            .iter()
            .map(|row| row.values().map(cell).collect())
            .collect();
        print_table(&header, &rows);
        println!("({} rows, as {})", output.row_count, output.ran_as);
    }
    Ok(())
}

/// Wraps `text` in an ANSI style when stdout is a terminal (and `NO_COLOR` is not set).
fn paint(style: &str, text: &str) -> String {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[{style}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

const BOLD: &str = "1";
const RED: &str = "31";
const YELLOW: &str = "33";
const CYAN: &str = "36";

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints rows as aligned columns (cells cut at 60 characters).
fn print_table(header: &[String], rows: &[Vec<String>]) {
    let cut = |s: &str| -> String {
        let one_line = s.replace('\n', "\\n");
        if one_line.chars().count() > 60 {
            format!("{}…", one_line.chars().take(59).collect::<String>())
        } else {
            one_line
        }
    };
    let header: Vec<String> = header.iter().map(|h| cut(h)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cut(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    println!("{}", paint(BOLD, &line(&header)));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for row in &rows {
        println!("{}", line(row));
    }
}

/// `pgbase explain`.
pub async fn explain(
    backend: &pgbase_mcp::Backend,
    query: &str,
    who: &Who,
    json: bool,
) -> anyhow::Result<()> {
    let output = backend.explain(query, &subject(who)).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    println!(
        "total {:.2} ms (planning {:.2} ms, execution {:.2} ms), as {}",
        output.total_ms, output.planning_ms, output.execution_ms, output.ran_as
    );
    print_plan(&output.plan[0]["Plan"], 0);
    for note in &output.notes {
        println!("{} {note}", paint(YELLOW, "note:"));
    }
    for index in &output.suggested_indexes {
        println!("{} {index}", paint(CYAN, "suggested:"));
    }
    Ok(())
}

fn print_plan(node: &Value, depth: usize) {
    let Some(kind) = node["Node Type"].as_str() else {
        return;
    };
    let relation = node["Relation Name"]
        .as_str()
        .map(|r| format!(" on {r}"))
        .unwrap_or_default();
    println!(
        "{}{kind}{relation}  (rows est {} actual {}, {} ms)",
        "  ".repeat(depth + 1),
        node["Plan Rows"],
        node["Actual Rows"],
        node["Actual Total Time"]
    );
    for key in ["Filter", "Index Cond", "Hash Cond", "Join Filter"] {
        if let Some(text) = node[key].as_str() {
            println!("{}  {key}: {text}", "  ".repeat(depth + 1));
        }
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            print_plan(child, depth + 1);
        }
    }
}

/// `pgbase describe`.
pub async fn describe(
    backend: &pgbase_mcp::Backend,
    table: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let description = backend.describe(&[], table).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&description)?);
    } else {
        print!("{}", pgbase_mcp::describe::render(&description));
    }
    Ok(())
}

/// `pgbase advisors`.
pub async fn advisors(backend: &pgbase_mcp::Backend, json: bool) -> anyhow::Result<()> {
    let lints = backend.advisors().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&lints)?);
        return Ok(());
    }
    if lints.is_empty() {
        println!("no findings");
    }
    for lint in &lints {
        let value = serde_json::to_value(lint)?;
        let level = value["level"].as_str().unwrap_or("");
        let colour = match level {
            "ERROR" => RED,
            "WARN" => YELLOW,
            _ => CYAN,
        };
        println!(
            "{} {}: {}\n      {}\n      fix: {}",
            paint(colour, &format!("{level:<5}")),
            lint.name,
            lint.title,
            lint.detail,
            lint.remediation
        );
    }
    Ok(())
}
