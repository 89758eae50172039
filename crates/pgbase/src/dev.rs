//! `pgbase dev`: a private Postgres for a project folder (data in `DIR/.pgbase/db`), the system
//! schemas and the folder's migrations applied, the migrations folder watched, and the server
//! on 127.0.0.1:54321 — until Ctrl-C, which stops Postgres cleanly (whichever postmaster serves
//! the data directory then, even one a `pg_ctl restart` started). Postgres listens on
//! 127.0.0.1 with a password for every role (the superuser's is generated once, like the JWT
//! secret, in `DIR/.pgbase/db_password`, mode 0600) and trusts only its unix socket.
//!
//! Dev also serves a mail sink at `/dev/mail` ([`crate::mail_sink`]) and, before the
//! migrations run, sets the database setting `pgbase.dev_mail_url` to its URL, so SQL that sends
//! mail through `net.http_post` can default to it (`current_setting('pgbase.dev_mail_url',
//! true)`) and no migration has to know the port.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::commands::{migrations_dir, print_report};
use crate::config::{Config, Settings};
use crate::{db, keys, mail_sink, runtime, server};

/// The Postgres port `dev` prefers (Supabase's local database port), when it is free.
const PREFERRED_DB_PORT: u16 = 54322;
/// The database setting that holds the dev mail sink's URL (`ALTER DATABASE … SET`), read in
/// SQL as `current_setting('pgbase.dev_mail_url', true)`.
pub const DEV_MAIL_SETTING: &str = "pgbase.dev_mail_url";
/// How often the migrations folder is checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A project's own start-up notes: `DIR/pgbase-next.txt`, printed after the URLs and keys with
/// `{url}` and `{dir}` filled in (the SaaS example says there where to look and what to try).
const PROJECT_NOTES: &str = "pgbase-next.txt";

/// Set once `dev` has been asked to stop: the logger then drops the warnings of connections
/// lost while its own Postgres shuts down.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether `pgbase dev` is stopping (its Ctrl-C handler has run).
pub fn stopping() -> bool {
    STOPPING.load(Ordering::Relaxed)
}

/// What `dev` refuses before it touches anything.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// `--dir` names nothing: most often a typo, so no empty project is made there.
    #[error("the project folder {} does not exist (a typo in --dir?); {fix}", path.display())]
    NoProjectDir { path: PathBuf, fix: &'static str },
    /// `--dir` names a file.
    #[error(
        "{} is not a folder; --dir takes the project folder (the one holding migrations/)",
        .0.display()
    )]
    NotAFolder(PathBuf),
}

/// Checks the project folder: it must exist unless `init` (then it is created). A folder
/// with neither `migrations/` nor `.pgbase/` becomes a new empty project, and `dev` says so.
fn check_project_dir(dir: &Path, init: bool) -> anyhow::Result<()> {
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !dir.exists() {
        if !init {
            return Err(DevError::NoProjectDir {
                path: shown,
                fix: "pass --init to start a new, empty project there",
            }
            .into());
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", shown.display()))?;
    } else if !dir.is_dir() {
        return Err(DevError::NotAFolder(shown).into());
    }
    if !migrations_dir(dir).exists() && !state_dir(dir).exists() {
        eprintln!(
            "note: created a new empty project at {} (no migrations/ yet: add one with `pgbase migrate new NAME --dir {}`)",
            shown.display(),
            dir.display()
        );
    }
    Ok(())
}

/// Binds the API's address before anything else happens, so that a port in use fails in a
/// moment instead of after initdb and every migration.
async fn bind_api(settings: &Settings) -> Result<tokio::net::TcpListener, server::ServeError> {
    let listen = settings.listen.as_deref().unwrap_or("127.0.0.1");
    let port = settings.port.unwrap_or(crate::config::DEFAULT_PORT);
    let addr = format!("{listen}:{port}");
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| {
            let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
                format!("port {port} is already in use: stop the other process or pass --port N")
            } else {
                "check --listen and --port".to_string()
            };
            server::ServeError::Bind { addr, source, hint }
        })
}

fn print_project_notes(dir: &Path, api_url: &str) {
    if let Ok(notes) = std::fs::read_to_string(dir.join(PROJECT_NOTES)) {
        println!();
        print!(
            "{}",
            notes
                .replace("{url}", api_url)
                .replace("{dir}", &dir.display().to_string())
        );
    }
}

pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join(".pgbase")
}

pub fn secret_path(dir: &Path) -> PathBuf {
    state_dir(dir).join("jwt_secret")
}

/// The generated password of the `postgres` superuser on TCP.
pub fn db_password_path(dir: &Path) -> PathBuf {
    state_dir(dir).join("db_password")
}

/// Reads `path`, or creates it (mode 0600) holding 32 random bytes in hex.
fn load_or_create_password(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the system's random source failed: {e}"))?;
    let password = hex::encode(bytes);
    write_private(path, &password)?;
    Ok(password)
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode on open; tighten it as well.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn running_file(dir: &Path) -> PathBuf {
    state_dir(dir).join("database_url")
}

/// The database URL of a `pgbase dev` running for `dir`, if one is.
pub fn running_database_url(dir: &Path) -> Option<String> {
    std::fs::read_to_string(running_file(dir))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

pub async fn run(dir: &Path, fresh: bool, init: bool, settings: Settings) -> anyhow::Result<()> {
    let listener = bind_api(&settings).await?;
    check_project_dir(dir, init)?;
    let state = state_dir(dir);
    std::fs::create_dir_all(&state)
        .with_context(|| format!("cannot create {}", state.display()))?;
    // Local state never belongs in the project's repository.
    let _ = std::fs::write(state.join(".gitignore"), "*\n");
    if settings.db_url.is_some() {
        tracing::warn!(
            "dev runs its own database; the configured db_url is ignored (use `pgbase serve` for an existing one)"
        );
    }

    let mut options = pgbase_devdb::ClusterOptions::new(state.join("db"));
    options.listen_tcp = true;
    options.fresh = fresh;
    options.port = port_is_free(PREFERRED_DB_PORT).then_some(PREFERRED_DB_PORT);
    // TCP needs this password (every role); the unix socket stays trusted but owner-only.
    options.tcp_password = Some(load_or_create_password(&db_password_path(dir))?);
    let fallback = fallback_cluster_dir(dir);
    let cluster = tokio::task::spawn_blocking(move || start_cluster_somewhere(options, fallback))
        .await
        .context("the database start-up task failed")??;
    let db_url = cluster.url("postgres");

    let secret = match settings.jwt_secret.clone() {
        Some(secret) => secret,
        None => keys::load_or_create_secret(&secret_path(dir))?,
    };
    // The dev cluster has no TLS: connect without it whatever PGSSLMODE says (the printed URL
    // stays as it is).
    let sep = if db_url.contains('?') { '&' } else { '?' };
    let internal_url = format!("{db_url}{sep}sslmode=disable");
    let config = Config::from_settings(settings, internal_url.clone(), secret.clone(), true)?;
    // The listener was bound first of all, so the mail sink's URL (which holds the port) is
    // set in the database before anything might read it.
    let local_addr = listener.local_addr()?;
    let api_url = format!("http://{local_addr}");
    let mail_url = dev_mail_url(local_addr);

    let pg_config = db::parse_url(&internal_url)?;
    let mut migrator = db::connect(&pg_config).await?;
    if let Err(error) = set_dev_mail_url(&migrator, &mail_url).await {
        tracing::warn!(%error, "could not set {DEV_MAIL_SETTING}; mail from SQL will not reach the dev mail sink");
    }
    let migrations = migrations_dir(dir);
    let mut waiting = untouched_templates(&mut migrator, &migrations).await;
    report_waiting(&waiting);
    if waiting.is_empty() {
        match pgbase_migrate::migrate(&mut migrator, Some(&migrations)).await {
            Ok(report) => print_report(&report),
            // A broken migration must not take the dev server down: report it and wait for a fix.
            Err(error) => eprintln!("error: {error}"),
        }
    } else {
        // Applied once the template has SQL in it.
        waiting.clear();
    }

    let app_state = runtime::start(config).await?;
    if !runtime::wait_for_schema_cache(&app_state, Duration::from_secs(10)).await {
        tracing::warn!("the schema cache has not loaded yet; the API answers 503 until it does");
    }
    // It holds the superuser's password.
    write_private(&running_file(dir), &db_url)?;

    let api_keys = keys::api_keys(&secret)?;
    println!();
    println!("pgbase dev is running for {}", dir.display());
    println!("  API URL:          {api_url}");
    println!("  REST:             {api_url}/rest/v1");
    println!("  GraphQL:          {api_url}/graphql/v1");
    println!("  Auth:             {api_url}/auth/v1");
    println!("  Database URL:     {db_url}");
    println!("  anon key:         {}", api_keys.anon);
    println!("  service_role key: {}", api_keys.service_role);
    println!("  Mail sink:        {mail_url} (JSON; in a browser: {api_url}/dev/mail/view)");
    println!("                    SQL reaches it as current_setting('{DEV_MAIL_SETTING}')");
    let readme = dir.join("README.md");
    if readme.is_file() {
        println!("  Read next:        {}", readme.display());
    }
    print_project_notes(dir, &api_url);
    println!(
        "Watching {} for new migrations. Ctrl-C to stop.",
        migrations.display()
    );
    println!();

    let jobs = runtime::spawn_jobs(&app_state.config, app_state.pool.clone())?;
    let timeout = app_state.config.shutdown_timeout;
    let watcher = tokio::spawn(watch_migrations(migrator, migrations, waiting));
    // The mail sink exists only in dev: `serve` builds `server::app` alone.
    let app = mail_sink::router(mail_sink::MailSink::new())
        .merge(server::app_for_project(app_state, Some(dir.to_path_buf())));
    let shutdown = async {
        runtime::shutdown_signal().await;
        STOPPING.store(true, Ordering::Relaxed);
    };
    let served = runtime::serve_until_signal(listener, app, jobs, timeout, shutdown).await;
    watcher.abort();
    let _ = std::fs::remove_file(running_file(dir));
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .ok();
    served?;
    Ok(())
}

/// The URL at which the net worker (in this process) reaches the mail sink: the listening
/// address, or loopback when the server listens on every address.
fn dev_mail_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!(
        "http://{}/dev/mail",
        std::net::SocketAddr::new(ip, addr.port())
    )
}

/// Points `pgbase.dev_mail_url` of the current database at the sink, for every session opened
/// from now on (the API's and the workers' pools are opened after this). The database is
/// `dev`'s own, so the setting goes with it; `pgbase sql` sessions see it too.
async fn set_dev_mail_url(
    client: &tokio_postgres::Client,
    url: &str,
) -> Result<(), tokio_postgres::Error> {
    let row = client
        .query_one(
            "select format('alter database %I set pgbase.dev_mail_url = %L', current_database(), $1::text)",
            &[&url],
        )
        .await?;
    let statement: String = row.get(0);
    client.batch_execute(&statement).await?;
    client
        .execute(
            "select set_config('pgbase.dev_mail_url', $1, false)",
            &[&url],
        )
        .await?;
    Ok(())
}

/// Where the cluster lives when `DIR/.pgbase/db` is out of reach of the user Postgres runs as
/// (as root, a checkout under `/root`, which is mode 0700): a folder of its own under
/// `/var/lib/pgbase/dev`, named after the project folder and a hash of its path, so the same
/// project finds the same cluster on every start.
fn fallback_cluster_dir(dir: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect();
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical.as_os_str().as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    PathBuf::from("/var/lib/pgbase/dev")
        .join(format!("{name}-{hash:016x}"))
        .join("db")
}

/// Starts the cluster in `options.data_dir`, or in `fallback` when running as root and the
/// user Postgres runs as cannot enter the project folder (so that `pgbase dev` works in a
/// checkout under `/root`, as a quick start pasted into a fresh container does).
fn start_cluster_somewhere(
    options: pgbase_devdb::ClusterOptions,
    fallback: PathBuf,
) -> Result<pgbase_devdb::Cluster, pgbase_devdb::DevDbError> {
    match start_cluster(options.clone()) {
        Err(pgbase_devdb::DevDbError::DirNotAccessible { path, user }) => {
            eprintln!(
                "note: the `{user}` user (Postgres runs as it because pgbase runs as root) cannot enter {}; \
                 the database of this project lives in {} instead",
                path.display(),
                fallback.display()
            );
            start_cluster(pgbase_devdb::ClusterOptions {
                data_dir: fallback,
                ..options
            })
        }
        other => other,
    }
}

/// Starts the cluster; when the preferred port was taken between the check and Postgres' bind
/// (another `pgbase dev` starting at the same moment), once more on a free port.
fn start_cluster(
    options: pgbase_devdb::ClusterOptions,
) -> Result<pgbase_devdb::Cluster, pgbase_devdb::DevDbError> {
    match pgbase_devdb::Cluster::start(options.clone()) {
        Err(pgbase_devdb::DevDbError::StartFailed { log_tail, .. })
            if options.port.is_some()
                && (log_tail.contains("could not bind")
                    || log_tail.contains("Address already in use")
                    || log_tail.contains("could not create lock file")) =>
        {
            pgbase_devdb::Cluster::start(pgbase_devdb::ClusterOptions {
                port: None,
                fresh: false,
                ..options
            })
        }
        other => other,
    }
}

/// Names, sizes and modification times of the folder's entries: cheap to compare.
fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let meta = e.metadata().ok();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    entries.sort();
    entries
}

/// Whether a migration file holds no SQL: only blank lines and `--` comments, as the template
/// `pgbase migrate new` writes until the user fills it in.
fn holds_no_sql(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with("--")
    })
}

/// The pending migrations (not yet applied; all of them before the history exists) that hold
/// no SQL yet, by display path. Applying one would record the empty template, and the user's
/// edit of it would then be refused as a changed file.
async fn untouched_templates(client: &mut tokio_postgres::Client, dir: &Path) -> Vec<String> {
    let Ok(files) = pgbase_migrate::discover(dir) else {
        return Vec::new();
    };
    let states = pgbase_migrate::status(client, dir)
        .await
        .unwrap_or_default();
    files
        .into_iter()
        .filter(|file| holds_no_sql(&file.sql))
        .map(|file| file.display_path)
        .filter(|path| {
            !states.iter().any(|(shown, state)| {
                shown == path && !matches!(state, pgbase_migrate::MigrationState::Pending)
            })
        })
        .collect()
}

fn report_waiting(files: &[String]) {
    for file in files {
        println!(
            "waiting for {file}: it holds no SQL yet (the template of `pgbase migrate new`); no migration is applied until it has some"
        );
    }
}

/// Applies new or fixed migrations when the folder changes (checked every 250 ms), but none
/// while a new file is still the empty template (see [`untouched_templates`]).
async fn watch_migrations(
    mut client: tokio_postgres::Client,
    dir: PathBuf,
    mut waiting: Vec<String>,
) {
    let mut last = fingerprint(&dir);
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let now = fingerprint(&dir);
        if now == last {
            continue;
        }
        last = now;
        let templates = untouched_templates(&mut client, &dir).await;
        if !templates.is_empty() {
            let new: Vec<String> = templates
                .iter()
                .filter(|f| !waiting.contains(f))
                .cloned()
                .collect();
            report_waiting(&new);
            waiting = templates;
            continue;
        }
        waiting.clear();
        match pgbase_migrate::migrate(&mut client, Some(&dir)).await {
            Ok(report) if report.applied.is_empty() => {}
            Ok(report) => print_report(&report),
            Err(error) => eprintln!("error: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holds_no_sql;

    #[test]
    fn the_template_holds_no_sql_and_an_edit_does() {
        assert!(holds_no_sql(
            "-- add_todos: applied once, in its own transaction.\n\n"
        ));
        assert!(holds_no_sql(""));
        assert!(!holds_no_sql(
            "-- add_todos\n\ncreate table todos (id int);\n"
        ));
        assert!(!holds_no_sql("select 1 -- trailing"));
    }
}
