//! Runs one CLI command: resolves its configuration and calls into the crates that do the work.
//! `dev` lives in its own module, the agent commands (`mcp` and its mirrors) in `agent`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::cli::{Cli, Command, GenLang, GenWhat, MigrateAction, Target};
use crate::config::{Config, Settings};
use crate::{agent, db, dev, doctor, keys, runtime, server};

/// An error plus the process exit code it maps to.
pub struct Failure {
    pub error: anyhow::Error,
    pub exit_code: u8,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        let error = error.into();
        let missing_postgres = error
            .downcast_ref::<pgbase_devdb::DevDbError>()
            .is_some_and(|e| e.is_missing_binaries());
        // A port in use or a project folder that is not there: fix the command line (2).
        let port_in_use = error.downcast_ref::<server::ServeError>().is_some_and(|e| {
            matches!(e, server::ServeError::Bind { source, .. }
                if source.kind() == std::io::ErrorKind::AddrInUse)
        });
        let bad_dir = error.downcast_ref::<dev::DevError>().is_some();
        Failure {
            error,
            exit_code: if missing_postgres || port_in_use || bad_dir {
                2
            } else {
                1
            },
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let explicit_config = cli.config.is_some();
    let config_path = |dir: &Path| {
        cli.config
            .clone()
            .unwrap_or_else(|| dir.join("pgbase.toml"))
    };
    match cli.command {
        Command::Dev {
            dir,
            init,
            fresh,
            settings,
        } => {
            let settings = Settings::resolve(settings, &config_path(&dir), explicit_config)?;
            dev::run(&dir, fresh, init, settings).await?;
        }
        Command::Serve { settings } => {
            let settings =
                Settings::resolve(settings, &config_path(Path::new(".")), explicit_config)?;
            serve(settings).await?;
        }
        Command::Migrate {
            dir,
            db_url,
            action,
        } => {
            let flags = Settings {
                db_url,
                ..Settings::default()
            };
            let settings = Settings::resolve(flags, &config_path(&dir), explicit_config)?;
            migrate(&dir, settings, action.unwrap_or(MigrateAction::Up)).await?;
        }
        Command::Doctor { dir, db_url, json } => {
            let flags = Settings {
                db_url,
                ..Settings::default()
            };
            let settings = Settings::resolve(flags, &config_path(&dir), explicit_config)?;
            let replicas = crate::config::Config::replica_urls(settings.db_replica_urls.as_deref());
            let url = database_url(&dir, settings.db_url)?;
            let report = doctor::diagnose(&url, &replicas).await;
            doctor::print(&report, json);
            if !report.ready {
                return Err(Failure {
                    error: anyhow!("pgbase doctor: something is missing"),
                    exit_code: 1,
                });
            }
        }
        Command::Keys { dir, jwt_secret } => {
            let flags = Settings {
                jwt_secret,
                ..Settings::default()
            };
            let settings = Settings::resolve(flags, &config_path(&dir), explicit_config)?;
            let secret = match settings.jwt_secret {
                Some(secret) => secret,
                None => {
                    let path = dev::secret_path(&dir);
                    if !path.exists() {
                        return Err(anyhow!(
                            "no JWT secret: pass --jwt-secret, set PGBASE_JWT_SECRET, or run `pgbase dev --dir {}` once to generate one",
                            dir.display()
                        )
                        .into());
                    }
                    keys::load_or_create_secret(&path)?
                }
            };
            let keys = keys::api_keys(&secret)?;
            println!("anon key:         {}", keys.anon);
            println!("service_role key: {}", keys.service_role);
        }
        Command::Sql {
            query,
            target,
            who,
            json,
        } => {
            let settings =
                target_settings(&target, None, &config_path(&target.dir), explicit_config)?;
            let url = database_url(&target.dir, settings.db_url.clone())?;
            if who.role.is_some() || who.as_user.is_some() {
                let backend =
                    agent::backend(&target.dir, &settings, &url, agent::Flags::default())?;
                agent::sql(&backend, &query, &who, json).await?;
            } else {
                let client = db::connect(&db::parse_url(&url)?).await?;
                run_sql(&client, &query, json).await?;
            }
        }
        Command::Mcp {
            target,
            jwt_secret,
            read_only,
            allow_migrations,
            statement_timeout,
        } => {
            let settings = target_settings(
                &target,
                jwt_secret,
                &config_path(&target.dir),
                explicit_config,
            )?;
            let flags = agent::Flags {
                read_only,
                allow_migrations,
                statement_timeout: agent::parse_duration(&statement_timeout)?,
            };
            agent::serve_stdio(&target.dir, settings, flags).await?;
        }
        Command::Explain {
            query,
            target,
            who,
            json,
        } => {
            let settings =
                target_settings(&target, None, &config_path(&target.dir), explicit_config)?;
            let url = database_url(&target.dir, settings.db_url.clone())?;
            let backend = agent::backend(&target.dir, &settings, &url, agent::Flags::default())?;
            agent::explain(&backend, &query, &who, json).await?;
        }
        Command::Describe {
            table,
            target,
            json,
        } => {
            let settings =
                target_settings(&target, None, &config_path(&target.dir), explicit_config)?;
            let url = database_url(&target.dir, settings.db_url.clone())?;
            let backend = agent::backend(&target.dir, &settings, &url, agent::Flags::default())?;
            agent::describe(&backend, table.as_deref(), json).await?;
        }
        Command::Advisors { target, json } => {
            let settings =
                target_settings(&target, None, &config_path(&target.dir), explicit_config)?;
            let url = database_url(&target.dir, settings.db_url.clone())?;
            let backend = agent::backend(&target.dir, &settings, &url, agent::Flags::default())?;
            agent::advisors(&backend, json).await?;
        }
        Command::Gen { what, lang, target } => {
            let settings =
                target_settings(&target, None, &config_path(&target.dir), explicit_config)?;
            let url = database_url(&target.dir, settings.db_url.clone())?;
            let backend = agent::backend(&target.dir, &settings, &url, agent::Flags::default())?;
            match (what, lang) {
                (GenWhat::Types, GenLang::Typescript) => {
                    let types = backend.generate_types().await?;
                    print!("{types}");
                }
            }
        }
    }
    Ok(())
}

/// The settings of a command that talks to one database (flags, environment, pgbase.toml).
fn target_settings(
    target: &Target,
    jwt_secret: Option<String>,
    config_path: &Path,
    explicit_config: bool,
) -> anyhow::Result<Settings> {
    let flags = Settings {
        db_url: target.db_url.clone(),
        jwt_secret,
        ..Settings::default()
    };
    Ok(Settings::resolve(flags, config_path, explicit_config)?)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db_url = settings.db_url.clone().context(
        "serve needs a database: pass --db-url or set DATABASE_URL (e.g. postgres://OWNER:PASSWORD@HOST:5432/DB, the login that ran pgbase migrate)",
    )?;
    let secret = settings.jwt_secret.clone().context(
        "serve needs a JWT secret: pass --jwt-secret or set PGBASE_JWT_SECRET (at least 32 characters)",
    )?;
    upgrade_system_schemas(&db_url).await;
    let config = Config::from_settings(settings, db_url, secret, false)?;
    let listener = server::bind(&config).await?;
    let state = runtime::start(config).await?;
    let jobs = runtime::spawn_jobs(&state.config, state.pool.clone())?;
    tracing::info!(addr = %listener.local_addr()?, "serving");
    let timeout = state.config.shutdown_timeout;
    runtime::serve_until_signal(
        listener,
        server::app(state),
        jobs,
        timeout,
        runtime::shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// What a `service_role` without BYPASSRLS means, and the fix (`migrate` and `serve` say it).
const NO_BYPASSRLS: &str = "service_role has no BYPASSRLS (or does not exist): requests with the service key see only the rows row-level security lets service_role see (often none); an administrator (a superuser; on PG 16+ also a role with BYPASSRLS, CREATEROLE and ADMIN OPTION on service_role) must run: ALTER ROLE service_role BYPASSRLS;";

/// Whether `service_role` exists with BYPASSRLS (true when the catalog cannot be read: nothing
/// to warn about then).
async fn service_role_bypasses_rls(client: &tokio_postgres::Client) -> bool {
    match client
        .query_opt(
            "select rolbypassrls from pg_roles where rolname = 'service_role'",
            &[],
        )
        .await
    {
        Ok(row) => row.is_some_and(|r| r.get::<_, bool>(0)),
        Err(_) => true,
    }
}

/// At `serve` start-up: warns when `service_role` lacks BYPASSRLS (the service key would see
/// only what row-level security allows), and brings system schemas made by an earlier pgbase to
/// this one's (under the
/// migration lock, as `pgbase migrate`). A login that may not change them (e.g. `authenticator`)
/// gets a warning naming the files and the command to run as the database owner; a connection
/// failure is left to the start-up that follows, which reports it.
async fn upgrade_system_schemas(db_url: &str) {
    let Ok(config) = db::parse_url(db_url) else {
        return;
    };
    let Ok(mut client) = db::connect(&config).await else {
        return;
    };
    if !service_role_bypasses_rls(&client).await {
        tracing::warn!("{NO_BYPASSRLS}");
    }
    let outdated = match pgbase_migrate::system_outdated(&client).await {
        Ok(outdated) if outdated.is_empty() => return,
        Ok(outdated) => outdated,
        Err(error) => {
            let error = match &error {
                pgbase_migrate::MigrateError::Database(e) => e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |db| db.message().to_string()),
                other => other.to_string(),
            };
            tracing::warn!(
                %error,
                "this login cannot read the system schema versions (pgbase.system_migrations), so it cannot bring them up to date: after installing a new pgbase, run `pgbase migrate --db-url URL` as the database owner"
            );
            return;
        }
    };
    match pgbase_migrate::apply_system_schemas(&mut client).await {
        Ok(()) => tracing::info!(files = ?outdated, "system schemas brought up to date"),
        Err(error) => tracing::warn!(
            files = ?outdated,
            %error,
            "the system schemas are older than this pgbase and this login cannot upgrade them: run `pgbase migrate --db-url URL` as the database owner"
        ),
    }
}

/// The URL from the configuration, else the one a running `pgbase dev` of `dir` published.
pub fn database_url(dir: &Path, configured: Option<String>) -> anyhow::Result<String> {
    if let Some(url) = configured {
        return Ok(url);
    }
    dev::running_database_url(dir).with_context(|| {
        format!(
            "no database: pass --db-url, set DATABASE_URL, or start `pgbase dev --dir {}`",
            dir.display()
        )
    })
}

async fn migrate(dir: &Path, settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    let migrations = migrations_dir(dir);
    if let MigrateAction::New { name } = &action {
        // No project folder is made up from a typo; a project without migrations/ gets one,
        // and is told so (stdout keeps only the new file's path, for scripts).
        if !dir.is_dir() {
            return Err(dev::DevError::NoProjectDir {
                path: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
                fix: "create it first (`mkdir -p DIR`), or start it with `pgbase dev --init --dir DIR`",
            }
            .into());
        }
        let created_folder = !migrations.exists();
        let path = pgbase_migrate::new_migration(&migrations, name)?;
        if created_folder {
            eprintln!(
                "note: created {} (there was none in {})",
                std::path::absolute(&migrations)
                    .unwrap_or_else(|_| migrations.clone())
                    .display(),
                std::path::absolute(dir)
                    .unwrap_or_else(|_| dir.to_path_buf())
                    .display()
            );
        }
        println!("{}", path.display());
        return Ok(());
    }
    let url = database_url(dir, settings.db_url)?;
    let mut client = db::connect(&db::parse_url(&url)?).await?;
    match action {
        MigrateAction::Status => {
            for (file, state) in pgbase_migrate::status(&mut client, &migrations).await? {
                let state = match state {
                    pgbase_migrate::MigrationState::Applied { applied_at } => {
                        format!("applied {}", applied_at.format("%Y-%m-%d %H:%M:%S UTC"))
                    }
                    pgbase_migrate::MigrationState::Pending => "pending".into(),
                    pgbase_migrate::MigrationState::Changed => {
                        "CHANGED since applied (will be refused)".into()
                    }
                    pgbase_migrate::MigrationState::Missing => "applied, file missing".into(),
                };
                println!("{file}  {state}");
            }
        }
        MigrateAction::Up | MigrateAction::New { .. } => {
            let report = pgbase_migrate::migrate(&mut client, Some(&migrations)).await?;
            print_report(&report);
            // (Postgres' own WARNING from 0001 reaches no terminal: the notice is not printed.)
            if !service_role_bypasses_rls(&client).await {
                eprintln!("warning: {NO_BYPASSRLS}");
            }
        }
    }
    Ok(())
}

pub fn migrations_dir(dir: &Path) -> PathBuf {
    dir.join("migrations")
}

pub fn print_report(report: &pgbase_migrate::MigrateReport) {
    for name in &report.system_applied {
        println!("installed system schema {name}");
    }
    for name in &report.system_upgraded {
        println!("upgraded system schema {name} in place");
    }
    for applied in &report.applied {
        println!(
            "applied {} ({:.1} ms)",
            applied.display_path, applied.duration_ms
        );
    }
    for notice in report.template_notices() {
        println!("{notice}");
    }
    if report.applied.is_empty() && report.untouched.is_empty() {
        println!("migrations up to date");
    }
}

/// Runs `query` with the simple protocol and prints each result set.
async fn run_sql(client: &tokio_postgres::Client, query: &str, json: bool) -> anyhow::Result<()> {
    use tokio_postgres::SimpleQueryMessage;
    if json {
        return run_sql_json(client, query).await;
    }
    let messages = match client.simple_query(query).await {
        Ok(messages) => messages,
        // Located (line:col, caret) and with the closest names, as the MCP `query` tool reports.
        Err(e) => {
            return Err(anyhow!(
                pgbase_mcp::query::sql_error(client, e, query, 0, 0).await
            ));
        }
    };
    let mut header_printed = false;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
                println!("{}", names.join("\t"));
                header_printed = true;
            }
            SimpleQueryMessage::Row(row) => {
                let values: Vec<&str> = (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL"))
                    .collect();
                println!("{}", values.join("\t"));
            }
            SimpleQueryMessage::CommandComplete(rows) => {
                if !header_printed {
                    println!("OK ({rows} rows)");
                }
                header_printed = false;
            }
            _ => {}
        }
    }
    Ok(())
}

/// `sql --json`: one JSON object per row with JSON types, as PostgREST renders them (numbers,
/// booleans, null, json/jsonb as JSON, arrays as arrays). Statements run one at a time in
/// the same session (so `begin; …; commit` works); one that returns rows is run as
/// `with r as (STATEMENT) select to_json(r) from r`, so Postgres itself renders each row, in
/// column order. One that cannot be wrapped (`show`, `explain`, `fetch` …, a WITH holding
/// insert/update/delete/merge) prints its values as strings.
async fn run_sql_json(client: &tokio_postgres::Client, query: &str) -> anyhow::Result<()> {
    use tokio_postgres::SimpleQueryMessage;
    const PREFIX: &str = "with pgbase_row as (";
    for range in pgbase_migrate::split_statements(query) {
        // Blanked but kept in place: error positions count from the start of `query`.
        let padded: String = query[..range.start]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .chain(query[range.clone()].chars())
            .collect();
        let statement = match client.prepare(&padded).await {
            Ok(statement) => statement,
            Err(e) => {
                return Err(anyhow!(
                    pgbase_mcp::query::sql_error(client, e, query, 0, 0).await
                ));
            }
        };
        let first_word: String = query[range.clone()]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect::<String>()
            .to_ascii_lowercase();
        // A WITH holding a data-modifying statement must stay at the top level, so it is not
        // wrapped (a false alarm only costs the JSON types).
        let modifies = || {
            query[range.clone()]
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|w| {
                    ["insert", "update", "delete", "merge"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
                })
        };
        let wrappable = match first_word.as_str() {
            "select" | "values" | "table" | "insert" | "update" | "delete" | "merge" => true,
            "with" => !modifies(),
            _ => false,
        };
        if !statement.columns().is_empty() && wrappable {
            let wrapped =
                format!("{PREFIX}{padded}\n) select to_json(pgbase_row)::text from pgbase_row");
            let messages = match client.simple_query(&wrapped).await {
                Ok(messages) => messages,
                Err(e) => {
                    return Err(anyhow!(
                        pgbase_mcp::query::sql_error(client, e, &wrapped, PREFIX.len(), 0).await
                    ));
                }
            };
            for message in messages {
                if let SimpleQueryMessage::Row(row) = message {
                    let text = row.get(0).unwrap_or("null");
                    // Re-encoded: json values keep their own whitespace and newlines in to_json.
                    let value: serde_json::Value =
                        serde_json::from_str(text).with_context(|| {
                            format!("Postgres rendered a row that is not JSON: {text}")
                        })?;
                    println!("{value}");
                }
            }
            continue;
        }
        let messages = match client.simple_query(&padded).await {
            Ok(messages) => messages,
            Err(e) => {
                return Err(anyhow!(
                    pgbase_mcp::query::sql_error(client, e, query, 0, 0).await
                ));
            }
        };
        for message in messages {
            if let SimpleQueryMessage::Row(row) = message {
                let mut object = serde_json::Map::new();
                for (i, column) in row.columns().iter().enumerate() {
                    let value = row
                        .get(i)
                        .map_or(serde_json::Value::Null, |v| v.to_string().into());
                    object.insert(column.name().to_string(), value);
                }
                println!("{}", serde_json::Value::Object(object));
            }
        }
    }
    Ok(())
}
