//! Applying migrations against a database: one advisory lock for the whole run, the system
//! schemas first, then each pending user migration in its own transaction with its history row,
//! and finally `NOTIFY pgrst, 'reload schema'` so every pgbase process reloads its schema cache.
//!
//! A pending file that is still the untouched template of `pgbase migrate new` (no SQL yet) is
//! neither applied nor recorded, and neither is any pending file after it (so files still apply
//! in name order once it is edited); [`MigrateReport::untouched`] and [`MigrateReport::held`]
//! name them and [`MigrateReport::template_notices`] words the line to print.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use tokio_postgres::error::ErrorPosition;

use crate::locate::{locate_offset, split_statements};
use crate::user::{AppliedMigration, MigrationFile, MigrationState, discover};
use crate::{FailedMigration, MigrateError, SYSTEM_SCHEMAS};

/// Advisory lock key shared by every pgbase process migrating the same database ("pgbasemg").
const MIGRATION_LOCK: i64 = 0x7067_6261_7365_6d67;

const BOOTSTRAP: &str = "create schema if not exists pgbase;
create table if not exists pgbase.system_migrations (
  version integer primary key,
  name text not null,
  applied_at timestamptz not null default now()
);
alter table pgbase.system_migrations add column if not exists checksum text;";

/// What one `migrate` run did.
#[derive(Debug, Default)]
pub struct MigrateReport {
    /// System schema files applied by this run (empty when already up to date).
    pub system_applied: Vec<&'static str>,
    /// System schema files applied earlier with an older text and upgraded in place by this run.
    pub system_upgraded: Vec<&'static str>,
    pub applied: Vec<AppliedMigration>,
    /// Pending files skipped because they are still the empty template of `pgbase migrate new`
    /// (display paths, in name order); nothing about them was recorded.
    pub untouched: Vec<String>,
    /// Pending files with SQL that come after the first untouched template: not applied until
    /// it is edited or deleted (display paths, in name order).
    pub held: Vec<String>,
}

impl MigrateReport {
    /// One line per skipped template, naming the file and what to do about it.
    pub fn template_notices(&self) -> Vec<String> {
        self.untouched
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let held = match self.held.len() {
                    n if i > 0 || n == 0 => String::new(),
                    1 => format!("; {} waits for it", self.held[0]),
                    n => format!("; the {n} migrations after it wait for it"),
                };
                format!(
                    "skipped {file}: it is still the empty template from `pgbase migrate new`; \
                     edit it or delete it{held}"
                )
            })
            .collect()
    }
}

/// Installs or upgrades the system schemas, then applies the pending migrations of
/// `migrations_dir` (if given). Holds the migration lock throughout.
pub async fn migrate(
    client: &mut Client,
    migrations_dir: Option<&Path>,
) -> Result<MigrateReport, MigrateError> {
    let files = match migrations_dir {
        Some(dir) => discover(dir)?,
        None => Vec::new(),
    };
    with_lock(client, async |client| {
        let system = system_pending(client).await?;
        let user = apply_user(client, &files).await?;
        client
            .batch_execute("notify pgrst, 'reload schema'")
            .await?;
        Ok(MigrateReport {
            system_applied: system.applied,
            system_upgraded: system.upgraded,
            applied: user.applied,
            untouched: user.untouched,
            held: user.held,
        })
    })
    .await
}

/// Installs or upgrades only the system schemas (the test harness's template uses this).
pub async fn apply_system_schemas(client: &mut Client) -> Result<(), MigrateError> {
    with_lock(client, async |client| {
        system_pending(client).await.map(drop)
    })
    .await
}

/// The system schema files this database lacks or applied with an older text (by name, in
/// order); empty when it is up to date. Reads only, so any role that can see `pgbase` may ask.
pub async fn system_outdated(client: &Client) -> Result<Vec<&'static str>, MigrateError> {
    let exists: bool = client
        .query_one(
            "select to_regclass('pgbase.system_migrations') is not null",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(SYSTEM_SCHEMAS.iter().map(|s| s.name).collect());
    }
    // (a table made by an earlier release has no checksum column)
    let rows = client
        .query(
            "select version, to_jsonb(s) ->> 'checksum' from pgbase.system_migrations s",
            &[],
        )
        .await?;
    let done: HashMap<i32, Option<String>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(SYSTEM_SCHEMAS
        .iter()
        .filter(|s| done.get(&s.version).cloned().flatten() != Some(system_checksum(s.sql)))
        .map(|s| s.name)
        .collect())
}

/// Each migration of `migrations_dir` with its state, plus history rows whose file is gone.
pub async fn status(
    client: &mut Client,
    migrations_dir: &Path,
) -> Result<Vec<(String, MigrationState)>, MigrateError> {
    let files = discover(migrations_dir)?;
    let history = history(client).await?;
    let mut out = Vec::new();
    for file in &files {
        let state = match history.get(&file.version) {
            Some((checksum, _)) if *checksum != file.checksum => MigrationState::Changed,
            Some((_, applied_at)) => MigrationState::Applied {
                applied_at: *applied_at,
            },
            None => MigrationState::Pending,
        };
        out.push((file.display_path.clone(), state));
    }
    let mut missing: Vec<_> = history
        .keys()
        .filter(|version| !files.iter().any(|f| &f.version == *version))
        .map(|version| (format!("{version}.sql"), MigrationState::Missing))
        .collect();
    missing.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(missing);
    Ok(out)
}

async fn with_lock<T>(
    client: &mut Client,
    body: impl AsyncFnOnce(&mut Client) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    client
        .execute("select pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = body(client).await;
    let unlocked = client
        .execute("select pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let value = result?;
    unlocked?;
    Ok(value)
}

/// The system files one run applied (new) and upgraded in place (applied before, older text).
#[derive(Debug, Default)]
struct SystemRun {
    applied: Vec<&'static str>,
    upgraded: Vec<&'static str>,
}

/// SHA-256 of a system file's text, as recorded in `pgbase.system_migrations.checksum`.
fn system_checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

async fn system_pending(client: &mut Client) -> Result<SystemRun, MigrateError> {
    client.batch_execute(BOOTSTRAP).await?;
    let rows = client
        .query(
            "select version, checksum from pgbase.system_migrations",
            &[],
        )
        .await?;
    let done: HashMap<i32, Option<String>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut run = SystemRun::default();
    for schema in SYSTEM_SCHEMAS {
        let checksum = system_checksum(schema.sql);
        let system_error = |e: tokio_postgres::Error| MigrateError::System {
            name: schema.name.to_string(),
            message: postgres_message(&e),
        };
        match done.get(&schema.version) {
            // Applied with this very text: nothing to do.
            Some(Some(recorded)) if *recorded == checksum => {}
            // Applied by an earlier pgbase (older text, or a release that kept no checksum).
            Some(_) => {
                let tx = client.transaction().await?;
                let mut upgraded = false;
                if let Some(upgrade) = schema.upgrade {
                    let needed: bool = tx
                        .query_one(upgrade.needed, &[])
                        .await
                        .map_err(system_error)?
                        .get(0);
                    if needed {
                        tx.batch_execute(upgrade.sql).await.map_err(system_error)?;
                        upgraded = true;
                    }
                }
                tx.execute(
                    "update pgbase.system_migrations set checksum = $2 where version = $1",
                    &[&schema.version, &checksum],
                )
                .await?;
                tx.commit().await?;
                if upgraded {
                    tracing::info!(schema = schema.name, "upgraded system schema in place");
                    run.upgraded.push(schema.name);
                }
            }
            None => {
                let tx = client.transaction().await?;
                if let Err(error) = tx.batch_execute(schema.sql).await {
                    tx.rollback().await?;
                    return Err(match privilege_fix(client, &error).await? {
                        Some(fix) => MigrateError::Privilege {
                            name: schema.name.to_string(),
                            message: postgres_message(&error),
                            fix,
                        },
                        None => system_error(error),
                    });
                }
                tx.execute(
                    "insert into pgbase.system_migrations (version, name, checksum) values ($1, $2, $3)",
                    &[&schema.version, &schema.name, &checksum],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(schema = schema.name, "installed system schema");
                run.applied.push(schema.name);
            }
        }
    }
    Ok(run)
}

/// The API roles the first system file creates and grants.
const API_ROLES: &str = "anon, authenticated, service_role, authenticator";

/// When a system file failed because the login may not create or grant roles (a managed
/// database's owner without CREATEROLE, or without ADMIN OPTION on roles an administrator made):
/// what it lacks and the statement an administrator runs. `None` for any other failure.
async fn privilege_fix(
    client: &Client,
    error: &tokio_postgres::Error,
) -> Result<Option<String>, MigrateError> {
    let Some(db) = error.as_db_error() else {
        return Ok(None);
    };
    if *db.code() != tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE {
        return Ok(None);
    }
    let message = db.message();
    let creating = message.starts_with("permission denied to create role");
    // PG 14/15: `must have admin option on role "anon"`; 16+: `permission denied to grant role "anon"`.
    let granting = message.contains("admin option on role")
        || message.starts_with("permission denied to grant role");
    if !creating && !granting {
        return Ok(None);
    }
    let login: String = client
        .query_one("select quote_ident(current_user)", &[])
        .await?
        .get(0);
    Ok(Some(if creating {
        format!(
            "the login {login} lacks the CREATEROLE privilege, which creating the roles {API_ROLES} needs; \
             as an administrator (a superuser, or the provider's admin role) run: ALTER ROLE {login} CREATEROLE; \
             then run pgbase migrate again"
        )
    } else {
        format!(
            "the login {login} may not grant the roles {API_ROLES} (it needs ADMIN OPTION on them); \
             as an administrator (a superuser, or the role that created them) run: \
             GRANT {API_ROLES} TO {login} WITH ADMIN OPTION; then run pgbase migrate again"
        )
    }))
}

type History = HashMap<String, (String, chrono::DateTime<chrono::Utc>)>;

async fn history(client: &Client) -> Result<History, MigrateError> {
    let exists: bool = client
        .query_one("select to_regclass('pgbase.migrations') is not null", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(HashMap::new());
    }
    let rows = client
        .query(
            "select version, checksum, applied_at from pgbase.migrations",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

/// What [`apply_user`] did: see the fields of the same names in [`MigrateReport`].
#[derive(Debug, Default)]
struct UserRun {
    applied: Vec<AppliedMigration>,
    untouched: Vec<String>,
    held: Vec<String>,
}

async fn apply_user(client: &mut Client, files: &[MigrationFile]) -> Result<UserRun, MigrateError> {
    // Read the history under the lock: another process may have applied files meanwhile.
    let history = history(client).await?;
    for file in files {
        if let Some((recorded, _)) = history.get(&file.version)
            && *recorded != file.checksum
        {
            return Err(MigrateError::ChecksumMismatch {
                file: file.display_path.clone(),
                recorded: short(recorded),
                current: short(&file.checksum),
            });
        }
    }
    let mut run = UserRun::default();
    for file in files.iter().filter(|f| !history.contains_key(&f.version)) {
        if file.is_untouched_template() {
            run.untouched.push(file.display_path.clone());
            continue;
        }
        if !run.untouched.is_empty() {
            run.held.push(file.display_path.clone());
            continue;
        }
        let started = Instant::now();
        let tx = client.transaction().await?;
        if let Err(error) = tx.batch_execute(&file.sql).await {
            tx.rollback().await?;
            return Err(locate_failure(client, file, &error).await);
        }
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        tx.execute(
            "insert into pgbase.migrations (version, name, checksum, duration_ms) values ($1, $2, $3, $4)",
            &[&file.version, &file.name, &file.checksum, &duration_ms],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(file = %file.display_path, duration_ms, "applied migration");
        run.applied.push(AppliedMigration {
            version: file.version.clone(),
            display_path: file.display_path.clone(),
            duration_ms,
        });
    }
    Ok(run)
}

fn short(checksum: &str) -> String {
    checksum.chars().take(12).collect()
}

fn postgres_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// Turns a failure of the whole file into file:line:col. Postgres gives a character position for
/// most errors; for the rest, the statements are replayed one by one in a transaction that is
/// rolled back, to find the one that fails.
async fn locate_failure(
    client: &mut Client,
    file: &MigrationFile,
    error: &tokio_postgres::Error,
) -> MigrateError {
    let char_offset = match error.as_db_error().and_then(|db| db.position()) {
        Some(ErrorPosition::Original(position)) => Some((*position as usize).saturating_sub(1)),
        _ => match failing_statement(client, &file.sql).await {
            Ok(found) => found,
            Err(bookkeeping) => return bookkeeping,
        },
    };
    let location = locate_offset(&file.sql, char_offset.unwrap_or(0));
    let db = error.as_db_error();
    let hint = match db {
        Some(db) if db.hint().is_some() => db.hint().map(str::to_string),
        // An unknown column, table or function: the closest names that exist (as the
        // database is without this migration, which was rolled back).
        Some(db) => {
            let names =
                pgbase_catalog::suggest::suggestions_for(client, db.code().code(), db.message())
                    .await
                    .unwrap_or_default();
            (!names.is_empty()).then(|| format!("did you mean {}?", names.join(", ")))
        }
        None => None,
    };
    MigrateError::Failed(Box::new(FailedMigration {
        file: file.display_path.clone(),
        line: location.line,
        column: location.column,
        message: postgres_message(error),
        detail: db.and_then(|d| d.detail()).map(str::to_string),
        hint,
        source_line: location.line_text,
    }))
}

/// Character offset of the first statement that fails when run alone (plus the position
/// inside it, when Postgres reports one).
async fn failing_statement(client: &mut Client, sql: &str) -> Result<Option<usize>, MigrateError> {
    let tx = client.transaction().await?;
    let mut found = None;
    for range in split_statements(sql) {
        if let Err(error) = tx.batch_execute(&sql[range.clone()]).await {
            let start_chars = sql[..range.start].chars().count();
            found = Some(match error.as_db_error().and_then(|db| db.position()) {
                Some(ErrorPosition::Original(p)) => start_chars + (*p as usize).saturating_sub(1),
                _ => start_chars,
            });
            break;
        }
    }
    tx.rollback().await?;
    Ok(found)
}
