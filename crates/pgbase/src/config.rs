//! Configuration: every setting comes from a command-line flag, else an environment variable
//! (pgbase's own name first, then PostgREST's `PGRST_*` alias), else `pgbase.toml`, else its
//! default. Unknown keys in the file are an error. [`Settings::resolve`] does the layering;
//! the rest of the program only sees the resolved [`Config`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Declares every setting once — its doc line, its type and its environment names (pgbase's own
/// first, then PostgREST's or GoTrue's alias) — and derives from that list the [`Settings`]
/// layer (a clap flag `--key-with-dashes` and a `pgbase.toml` key each), reading it from the
/// environment, layering, and the list [`KEYS`] that the README's table is tested against.
macro_rules! settings {
    ($( #[doc = $doc:literal] $key:ident : $ty:ty = [$first:literal $(, $alias:literal)*], )*) => {
        /// One layer of settings: the flags, the environment or the file. `None` = not set here.
        #[derive(Debug, Default, Clone, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $(
                #[doc = $doc]
                #[arg(long, help = concat!($doc, " [env: ", $first $(, ", ", $alias)*, "]"))]
                pub $key: Option<$ty>,
            )*
        }

        /// Every setting's key and environment names, in the README's order.
        pub const KEYS: &[(&str, &[&str])] = &[$((stringify!($key), &[$first $(, $alias)*]),)*];

        impl Settings {
            /// Reads the environment through `lookup` (std::env::var in production); for each
            /// setting the first of its names that is set wins.
            pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
                Ok(Settings {
                    $($key: from_env_names(&lookup, &[$first $(, $alias)*])?,)*
                })
            }

            /// `self` wins over `lower` wherever it is set.
            pub fn or(self, lower: Settings) -> Settings {
                Settings {
                    $($key: self.$key.or(lower.$key),)*
                }
            }
        }
    };
}

settings! {
    /// Database URL the server connects with
    db_url: String = ["DATABASE_URL", "PGBASE_DB_URL", "PGRST_DB_URI"],
    /// Comma-separated schemas exposed by the APIs [default: public]
    db_schemas: String = ["PGBASE_DB_SCHEMAS", "PGRST_DB_SCHEMAS"],
    /// Role for requests without a JWT [default: anon]
    db_anon_role: String = ["PGBASE_DB_ANON_ROLE", "PGRST_DB_ANON_ROLE"],
    /// Maximum connections in the pool [default: 10]
    db_pool: usize = ["PGBASE_DB_POOL", "PGRST_DB_POOL"],
    /// Hard cap on rows returned per level of a read; 0 means unlimited [default: 1000]
    db_max_rows: i64 = ["PGBASE_DB_MAX_ROWS", "PGRST_DB_MAX_ROWS"],
    /// Refuse PATCH/DELETE without a filter (as pg-safeupdate does on Supabase) [default: true]
    db_safe_update: bool = ["PGBASE_DB_SAFE_UPDATE"],
    /// Allow `Accept: application/vnd.pgrst.plan` (EXPLAIN) [default: on in dev, off in serve]
    db_plan_enabled: bool = ["PGBASE_DB_PLAN_ENABLED", "PGRST_DB_PLAN_ENABLED"],
    /// Statement timeout of API requests, before the role's own `ALTER ROLE … SET statement_timeout`; `0` turns it off [default: 8s]
    db_statement_timeout: String = ["PGBASE_DB_STATEMENT_TIMEOUT"],
    /// Comma-separated schemas appended to each API request's `search_path` [default: public]
    db_extra_search_path: String = ["PGBASE_DB_EXTRA_SEARCH_PATH", "PGRST_DB_EXTRA_SEARCH_PATH"],
    /// Allow aggregates (`count()`, `sum()`, …) in REST `select`; off gives PGRST123 [default: true]
    db_aggregates_enabled: bool = ["PGBASE_DB_AGGREGATES_ENABLED", "PGRST_DB_AGGREGATES_ENABLED"],
    /// Function called at the start of every REST and GraphQL request's transaction, after the role and request settings (`schema.function`); it may raise to refuse the request, change the role, or set `response.headers` [default: none]
    db_pre_request: String = ["PGBASE_DB_PRE_REQUEST", "PGRST_DB_PRE_REQUEST"],
    /// How REST transactions end: commit, commit-allow-override, rollback or rollback-allow-override (the `-allow-override` ones honour `Prefer: tx=`) [default: commit-allow-override]
    db_tx_end: String = ["PGBASE_DB_TX_END", "PGRST_DB_TX_END"],
    /// Read-replica database URLs, separated by commas or spaces; read-only requests go to a healthy one, round-robin [default: none]
    db_replica_urls: String = ["PGBASE_DB_REPLICA_URLS"],
    /// Seconds of replay lag past which a replica is taken out of rotation [default: 10]
    db_replica_max_lag: f64 = ["PGBASE_DB_REPLICA_MAX_LAG"],
    /// `name=value` pairs separated by `;`, set per API request as `app.settings.name` [default: none]
    app_settings: String = ["PGBASE_APP_SETTINGS"],
    /// HMAC secret for JWTs, at least 32 characters
    jwt_secret: String = ["PGBASE_JWT_SECRET", "PGRST_JWT_SECRET"],
    /// Address to listen on [default: 127.0.0.1]
    listen: String = ["PGBASE_LISTEN", "PGRST_SERVER_HOST"],
    /// Port to listen on [default: 54321]
    port: u16 = ["PGBASE_PORT", "PGRST_SERVER_PORT"],
    /// The URL clients reach the API at (behind a proxy: the public one); auth's tokens are issued by `URL/auth/v1`, as Supabase's [default: http://LISTEN:PORT, localhost for 0.0.0.0/::]
    api_external_url: String = ["PGBASE_API_EXTERNAL_URL", "API_EXTERNAL_URL"],
    /// Log format: pretty or json [default: pretty]
    log_format: LogFormat = ["PGBASE_LOG_FORMAT"],
    /// Required `aud` of incoming JWTs [default: not checked]
    jwt_aud: String = ["PGBASE_JWT_AUD", "PGRST_JWT_AUD"],
    /// Where the role is in the JWT claims [default: .role]
    jwt_role_claim_key: String = ["PGBASE_JWT_ROLE_CLAIM_KEY", "PGRST_JWT_ROLE_CLAIM_KEY"],
    /// Extra verification keys: a JWKS as inline JSON, @FILE or an https URL
    jwt_jwks: String = ["PGBASE_JWT_JWKS"],
    /// Run the cron and net workers in this process [default: true]
    jobs: bool = ["PGBASE_JOBS"],
    /// Time zone of cron schedules [default: GMT]
    cron_timezone: String = ["PGBASE_CRON_TIMEZONE"],
    /// Days of cron.job_run_details to keep; 0 keeps everything [default: 7]
    cron_retention_days: u32 = ["PGBASE_CRON_RETENTION_DAYS"],
    /// HTTP requests from SQL (net.*) in flight at once [default: 200]
    net_concurrency: usize = ["PGBASE_NET_CONCURRENCY"],
    /// Longest response body net.* stores; longer ones are cut and marked [default: 10485760]
    net_max_response_bytes: usize = ["PGBASE_NET_MAX_RESPONSE_BYTES"],
    /// GraphQL introspection (`__schema`, `__type`) [default: on in dev, off in serve]
    graphql_introspection: bool = ["PGBASE_GRAPHQL_INTROSPECTION"],
    /// GraphQL upsert: an `onConflict` argument on `insertInto…Collection` (pgbase's extension; off keeps the schema exactly pg_graphql's) [default: false]
    graphql_upsert: bool = ["PGBASE_GRAPHQL_UPSERT"],
    /// Refuse net.* requests to private, loopback and link-local addresses [default: off in dev, on in serve]
    net_deny_private: bool = ["PGBASE_NET_DENY_PRIVATE"],
    /// Sign-ups plus password sign-ins per client address per window; 0 turns it off [default: 30]
    auth_rate_limit_sign_in_sign_up: u32 = ["PGBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UP"],
    /// Refresh-token grants per client address per window; 0 turns it off [default: 150]
    auth_rate_limit_token_refresh: u32 = ["PGBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH", "GOTRUE_RATE_LIMIT_TOKEN_REFRESH"],
    /// Length of the auth rate-limit window in seconds [default: 300]
    auth_rate_limit_window_secs: u64 = ["PGBASE_AUTH_RATE_LIMIT_WINDOW_SECS"],
    /// Comma-separated proxy addresses/CIDRs whose client_ip_header is believed [default: none]
    trusted_proxies: String = ["PGBASE_TRUSTED_PROXIES"],
    /// Header naming the client address, read only from trusted_proxies [default: x-forwarded-for]
    client_ip_header: String = ["PGBASE_CLIENT_IP_HEADER"],
    /// Bearer token for `/metrics` and the details of `/health` in serve (without one, `/metrics` answers 404 there and `/health` only `{"status":…}`; dev leaves both open) [default: none]
    metrics_token: String = ["PGBASE_METRICS_TOKEN"],
    /// On SIGTERM/SIGINT, how long in-flight requests and background work may take to finish (`30s`, `500ms`, `2min`; a bare number is seconds) before the process exits anyway, with status 1 [default: 30s]
    shutdown_timeout: String = ["PGBASE_SHUTDOWN_TIMEOUT"],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}\nhint: every key is listed in README.md (Configuration)")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?} is not valid: {message}")]
    Env {
        name: String,
        value: String,
        message: String,
    },
    #[error(
        "jwt_secret must be at least 32 characters (it has {0}); generate one with `openssl rand -hex 32`"
    )]
    ShortSecret(usize),
    #[error("{key} = {value:?} is not valid\nhint: {hint}")]
    Invalid {
        key: &'static str,
        value: String,
        hint: &'static str,
    },
}

impl Settings {
    /// Reads `path` if it exists (a missing default file is fine; a missing explicit one is not).
    pub fn from_file(path: &Path, explicit: bool) -> Result<Settings, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Settings::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }

    /// flags > environment > file.
    pub fn resolve(
        flags: Settings,
        file: &Path,
        explicit_file: bool,
    ) -> Result<Settings, ConfigError> {
        let env = Settings::from_env(|name| std::env::var(name).ok())?;
        let file = Settings::from_file(file, explicit_file)?;
        Ok(flags.or(env).or(file))
    }
}

impl Config {
    /// `db_replica_urls` split on commas and whitespace.
    pub fn replica_urls(value: Option<&str>) -> Vec<String> {
        value
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// `db_replica_max_lag`: a positive number of seconds.
fn replica_max_lag(value: Option<f64>) -> Result<std::time::Duration, ConfigError> {
    match value {
        None => Ok(std::time::Duration::from_secs(10)),
        Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Ok(std::time::Duration::from_secs_f64(secs))
        }
        Some(secs) => Err(ConfigError::Invalid {
            key: "db_replica_max_lag",
            value: secs.to_string(),
            hint: "a positive number of seconds, such as 10 or 0.5",
        }),
    }
}

/// Checks a duration in Postgres' syntax for `statement_timeout`: digits with an optional
/// unit (`ms`, `s`, `min`, `h`, `d`); none means milliseconds, `0` no limit.
fn statement_timeout(value: Option<String>) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok("8s".to_string());
    };
    let trimmed = value.trim();
    let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = trimmed[digits.len()..].trim();
    let valid = !digits.trim().is_empty()
        && digits.trim().chars().all(|c| c.is_ascii_digit())
        && ["", "ms", "s", "min", "h", "d"].contains(&unit);
    if valid {
        Ok(trimmed.to_string())
    } else {
        Err(ConfigError::Invalid {
            key: "db_statement_timeout",
            value,
            hint: "a duration such as 8s, 500ms or 2min; 0 turns the limit off",
        })
    }
}

/// `db_tx_end`: how API transactions end, and whether `Prefer: tx=` may change that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxEndSetting {
    pub end: pgbase_db::TxEnd,
    pub allow_override: bool,
}

impl TxEndSetting {
    fn parse(value: Option<String>) -> Result<TxEndSetting, ConfigError> {
        use pgbase_db::TxEnd::{Commit, Rollback};
        let (end, allow_override) = match value.as_deref().map(str::trim) {
            None | Some("commit-allow-override") => (Commit, true),
            Some("commit") => (Commit, false),
            Some("rollback") => (Rollback, false),
            Some("rollback-allow-override") => (Rollback, true),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    key: "db_tx_end",
                    value: value.unwrap_or_default(),
                    hint: "one of commit, commit-allow-override, rollback, rollback-allow-override",
                });
            }
        };
        Ok(TxEndSetting {
            end,
            allow_override,
        })
    }
}

/// Default of `shutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Parses `shutdown_timeout`: digits with an optional unit (`ms`, `s`, `min`); none means
/// seconds.
fn shutdown_timeout(value: Option<String>) -> Result<std::time::Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(DEFAULT_SHUTDOWN_TIMEOUT);
    };
    let trimmed = value.trim();
    let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &trimmed[digits.len()..];
    let amount = digits
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|_| digits.trim().chars().all(|c| c.is_ascii_digit()));
    let duration = match (amount, unit) {
        (Some(n), "" | "s") => Some(std::time::Duration::from_secs(n)),
        (Some(n), "ms") => Some(std::time::Duration::from_millis(n)),
        (Some(n), "min") => n.checked_mul(60).map(std::time::Duration::from_secs),
        _ => None,
    };
    duration.ok_or(ConfigError::Invalid {
        key: "shutdown_timeout",
        value,
        hint: "a duration such as 30s, 500ms or 2min (a bare number is seconds)",
    })
}

/// `10.0.0.0/8, 127.0.0.1` → CIDR blocks.
fn trusted_proxies(value: Option<&str>) -> Result<Vec<pgbase_auth::IpCidr>, ConfigError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<pgbase_auth::IpCidr>()
                .map_err(|_| ConfigError::Invalid {
                    key: "trusted_proxies",
                    value: item.to_string(),
                    hint: "comma-separated IP addresses or CIDR blocks such as 10.0.0.0/8,::1",
                })
        })
        .collect()
}

/// A setting's value as an environment variable spells it.
trait FromEnvText: Sized {
    fn from_env_text(text: &str) -> Result<Self, String>;
}

impl FromEnvText for String {
    fn from_env_text(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
}

impl FromEnvText for bool {
    fn from_env_text(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "1" | "yes" => Ok(true),
            "false" | "off" | "0" | "no" => Ok(false),
            other => Err(format!("expected true or false, got {other:?}")),
        }
    }
}

impl FromEnvText for LogFormat {
    fn from_env_text(text: &str) -> Result<Self, String> {
        <LogFormat as clap::ValueEnum>::from_str(text.trim(), true)
            .map_err(|_| format!("expected pretty or json, got {:?}", text.trim()))
    }
}

macro_rules! numbers_from_env {
    ($($ty:ty),*) => {$(
        impl FromEnvText for $ty {
            fn from_env_text(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|e| format!("{e}"))
            }
        }
    )*};
}
numbers_from_env!(u16, u32, u64, usize, i64, f64);

/// The value of the first of `names` that is set, parsed.
fn from_env_names<T: FromEnvText>(
    lookup: &impl Fn(&str) -> Option<String>,
    names: &[&str],
) -> Result<Option<T>, ConfigError> {
    let Some((name, value)) = names
        .iter()
        .find_map(|name| lookup(name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    T::from_env_text(&value)
        .map(Some)
        .map_err(|message| ConfigError::Env {
            name: name.to_string(),
            value,
            message,
        })
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub db_url: String,
    pub db_schemas: Vec<String>,
    pub db_anon_role: String,
    pub db_pool: usize,
    /// `None`: unlimited.
    pub db_max_rows: Option<i64>,
    pub db_safe_update: bool,
    pub db_plan_enabled: bool,
    /// A Postgres duration (`8s`, `500ms`, `0`).
    pub db_statement_timeout: String,
    pub db_extra_search_path: Vec<String>,
    pub db_aggregates_enabled: bool,
    /// `select "schema"."function"()` of `db_pre_request`.
    pub db_pre_request: Option<String>,
    pub db_tx_end: TxEndSetting,
    /// Read replicas' URLs (see `pgbase_db::replicas`).
    pub db_replica_urls: Vec<String>,
    pub db_replica_max_lag: std::time::Duration,
    /// `(name, value)` of each `app.settings.name`.
    pub app_settings: Vec<(String, String)>,
    pub jwt_secret: String,
    pub listen: String,
    pub port: u16,
    /// Where clients reach the API, without a trailing `/`.
    pub api_external_url: String,
    pub jwt_aud: Option<String>,
    pub jwt_role_claim_key: String,
    pub jwt_jwks: Option<String>,
    pub jobs: bool,
    pub cron_timezone: String,
    pub cron_retention_days: u32,
    pub net_concurrency: usize,
    pub net_max_response_bytes: usize,
    pub net_deny_private: bool,
    pub graphql_introspection: bool,
    pub graphql_upsert: bool,
    /// Who may read `/metrics` and the details of `/health`.
    pub ops_access: OpsAccess,
    pub auth_rate_limit_sign_in_sign_up: u32,
    pub auth_rate_limit_token_refresh: u32,
    pub auth_rate_limit_window_secs: u64,
    pub trusted_proxies: Vec<pgbase_auth::IpCidr>,
    pub client_ip_header: String,
    /// How long a SIGTERM/SIGINT shutdown may drain before the process exits anyway.
    pub shutdown_timeout: std::time::Duration,
}

/// Who may read `/metrics` and the details of `/health` (the liveness answer is public).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsAccess {
    /// Everyone: `pgbase dev`.
    Open,
    /// Requests with `Authorization: Bearer <token>`: `serve` with `metrics_token`.
    Token(String),
    /// Nobody: `serve` without `metrics_token` (`/metrics` answers 404 with a hint).
    Closed,
}

pub const DEFAULT_PORT: u16 = 54321;

/// `db_max_rows` when it is not set (Supabase's default).
pub const DEFAULT_MAX_ROWS: i64 = 1000;

impl Config {
    /// Fills defaults. `dev` is true for `pgbase dev` (EXPLAIN on, SSRF guard off), false for
    /// `serve`.
    pub fn from_settings(
        s: Settings,
        db_url: String,
        jwt_secret: String,
        dev: bool,
    ) -> Result<Config, ConfigError> {
        if jwt_secret.chars().count() < 32 {
            return Err(ConfigError::ShortSecret(jwt_secret.chars().count()));
        }
        let schemas = s.db_schemas.unwrap_or_else(|| "public".into());
        Ok(Config {
            db_url,
            db_schemas: schemas
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            db_anon_role: s.db_anon_role.unwrap_or_else(|| "anon".into()),
            db_pool: s.db_pool.unwrap_or(10).max(1),
            // Supabase's 1000 unless set; 0 (or less) lifts the cap.
            db_max_rows: match s.db_max_rows {
                None => Some(DEFAULT_MAX_ROWS),
                Some(n) if n <= 0 => None,
                Some(n) => Some(n),
            },
            db_safe_update: s.db_safe_update.unwrap_or(true),
            db_replica_urls: Config::replica_urls(s.db_replica_urls.as_deref()),
            db_replica_max_lag: replica_max_lag(s.db_replica_max_lag)?,
            db_plan_enabled: s.db_plan_enabled.unwrap_or(dev),
            db_statement_timeout: statement_timeout(s.db_statement_timeout)?,
            db_extra_search_path: s
                .db_extra_search_path
                .unwrap_or_else(|| "public".into())
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            db_aggregates_enabled: s.db_aggregates_enabled.unwrap_or(true),
            db_pre_request: s
                .db_pre_request
                .as_deref()
                .and_then(pgbase_db::pre_request_call),
            db_tx_end: TxEndSetting::parse(s.db_tx_end)?,
            app_settings: s
                .app_settings
                .unwrap_or_default()
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .filter(|(name, _)| !name.is_empty())
                .collect(),
            jwt_secret,
            api_external_url: s
                .api_external_url
                .map(|url| url.trim_end_matches('/').to_string())
                .unwrap_or_else(|| {
                    let listen = s.listen.as_deref().unwrap_or("127.0.0.1");
                    let host = match listen {
                        "0.0.0.0" | "::" | "[::]" | "" => "localhost",
                        other => other,
                    };
                    let host = if host.contains(':') && !host.starts_with('[') {
                        format!("[{host}]")
                    } else {
                        host.to_string()
                    };
                    format!("http://{host}:{}", s.port.unwrap_or(DEFAULT_PORT))
                }),
            listen: s.listen.unwrap_or_else(|| "127.0.0.1".into()),
            port: s.port.unwrap_or(DEFAULT_PORT),
            jwt_aud: s.jwt_aud,
            jwt_role_claim_key: s.jwt_role_claim_key.unwrap_or_else(|| ".role".into()),
            jwt_jwks: s.jwt_jwks,
            jobs: s.jobs.unwrap_or(true),
            cron_timezone: s.cron_timezone.unwrap_or_else(|| "GMT".into()),
            cron_retention_days: s.cron_retention_days.unwrap_or(7),
            net_concurrency: s.net_concurrency.unwrap_or(200).max(1),
            net_max_response_bytes: s
                .net_max_response_bytes
                .unwrap_or(pgbase_jobs::net::DEFAULT_MAX_RESPONSE_BYTES),
            net_deny_private: s.net_deny_private.unwrap_or(!dev),
            graphql_introspection: s.graphql_introspection.unwrap_or(dev),
            graphql_upsert: s.graphql_upsert.unwrap_or(false),
            auth_rate_limit_sign_in_sign_up: s.auth_rate_limit_sign_in_sign_up.unwrap_or(30),
            auth_rate_limit_token_refresh: s.auth_rate_limit_token_refresh.unwrap_or(150),
            auth_rate_limit_window_secs: s.auth_rate_limit_window_secs.unwrap_or(300).max(1),
            trusted_proxies: trusted_proxies(s.trusted_proxies.as_deref())?,
            client_ip_header: s
                .client_ip_header
                .unwrap_or_else(|| "x-forwarded-for".into())
                .to_ascii_lowercase(),
            shutdown_timeout: shutdown_timeout(s.shutdown_timeout)?,
            ops_access: match s.metrics_token.filter(|t| !t.trim().is_empty()) {
                _ if dev => OpsAccess::Open,
                Some(token) => OpsAccess::Token(token),
                None => OpsAccess::Closed,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's configuration table lists every setting with its environment names, in
    /// order, and nothing else.
    #[test]
    fn the_readme_table_matches_the_settings() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README.md has a Configuration section");
        let rows: Vec<(String, Vec<String>)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let envs = cells
                    .get(2)?
                    .split(',')
                    .map(|name| name.trim().trim_matches('`').to_string())
                    .collect();
                Some((key.to_string(), envs))
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = KEYS
            .iter()
            .map(|(key, envs)| {
                (
                    key.to_string(),
                    envs.iter().map(|e| e.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            rows, expected,
            "README.md's Configuration table and config.rs disagree"
        );
    }

    #[test]
    fn unknown_file_keys_are_rejected_with_the_key_named() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pgbase.toml");
        std::fs::write(&path, "db_schemas = \"api\"\ndb_shemas = \"x\"\n")?;
        let err = Settings::from_file(&path, true)
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("db_shemas"), "{err}");
        Ok(())
    }

    #[test]
    fn flags_beat_environment_beat_file_and_aliases_work() -> Result<(), ConfigError> {
        let env = Settings::from_env(|name| match name {
            "PGRST_DB_SCHEMAS" => Some("api,public".into()),
            "PGBASE_PORT" => Some("4000".into()),
            "PGRST_SERVER_PORT" => Some("5000".into()),
            _ => None,
        })?;
        assert_eq!(env.db_schemas.as_deref(), Some("api,public"));
        assert_eq!(
            env.port,
            Some(4000),
            "pgbase's own name wins over the alias"
        );
        let file = Settings {
            port: Some(1),
            db_anon_role: Some("web_anon".into()),
            ..Settings::default()
        };
        let flags = Settings {
            port: Some(9),
            ..Settings::default()
        };
        let merged = flags.or(env).or(file);
        assert_eq!(merged.port, Some(9));
        assert_eq!(merged.db_anon_role.as_deref(), Some("web_anon"));
        let config = Config::from_settings(merged, "postgres://x".into(), "s".repeat(32), false)?;
        assert_eq!(config.db_schemas, ["api", "public"]);
        Ok(())
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let err = Settings::from_env(|name| (name == "PGBASE_DB_POOL").then(|| "ten".into()));
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("PGBASE_DB_POOL"), "{message}");
    }

    #[test]
    fn the_external_url_defaults_to_the_listen_address() -> Result<(), ConfigError> {
        let secret = "s".repeat(32);
        let url = |settings: Settings| -> Result<String, ConfigError> {
            Ok(
                Config::from_settings(settings, "u".into(), secret.clone(), false)?
                    .api_external_url,
            )
        };
        assert_eq!(url(Settings::default())?, "http://127.0.0.1:54321");
        let everywhere = Settings {
            listen: Some("0.0.0.0".into()),
            port: Some(8080),
            ..Settings::default()
        };
        assert_eq!(url(everywhere)?, "http://localhost:8080");
        let v6 = Settings {
            listen: Some("::1".into()),
            ..Settings::default()
        };
        assert_eq!(url(v6)?, "http://[::1]:54321");
        let env = Settings::from_env(|name| {
            (name == "API_EXTERNAL_URL").then(|| "https://api.example.com/".into())
        })?;
        assert_eq!(url(env)?, "https://api.example.com");
        Ok(())
    }

    #[test]
    fn safety_settings_come_from_the_environment_with_their_defaults() -> Result<(), ConfigError> {
        let secret = "s".repeat(32);
        let defaults =
            Config::from_settings(Settings::default(), "u".into(), secret.clone(), false)?;
        assert_eq!(defaults.db_statement_timeout, "8s");
        assert_eq!(defaults.db_max_rows, Some(DEFAULT_MAX_ROWS));
        assert!(defaults.db_safe_update);
        assert_eq!(defaults.net_max_response_bytes, 10 * 1024 * 1024);
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(defaults.auth_rate_limit_sign_in_sign_up, 30);
        assert_eq!(defaults.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);

        let env = Settings::from_env(|name| match name {
            "PGBASE_DB_STATEMENT_TIMEOUT" => Some("500ms".into()),
            "PGBASE_NET_MAX_RESPONSE_BYTES" => Some("1024".into()),
            "PGBASE_TRUSTED_PROXIES" => Some("10.0.0.0/8, ::1".into()),
            "GOTRUE_RATE_LIMIT_TOKEN_REFRESH" => Some("7".into()),
            "PGBASE_SHUTDOWN_TIMEOUT" => Some("1500ms".into()),
            _ => None,
        })?;
        let config = Config::from_settings(env, "u".into(), secret.clone(), false)?;
        assert_eq!(config.db_statement_timeout, "500ms");
        assert_eq!(config.net_max_response_bytes, 1024);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.auth_rate_limit_token_refresh, 7);
        assert_eq!(
            config.shutdown_timeout,
            std::time::Duration::from_millis(1500)
        );

        for (key, bad) in [
            (
                "db_statement_timeout",
                Settings {
                    db_statement_timeout: Some("soon".into()),
                    ..Settings::default()
                },
            ),
            (
                "trusted_proxies",
                Settings {
                    trusted_proxies: Some("10.0.0.0/99".into()),
                    ..Settings::default()
                },
            ),
            (
                "shutdown_timeout",
                Settings {
                    shutdown_timeout: Some("soon".into()),
                    ..Settings::default()
                },
            ),
            (
                "shutdown_timeout",
                Settings {
                    shutdown_timeout: Some("-3s".into()),
                    ..Settings::default()
                },
            ),
        ] {
            let error = Config::from_settings(bad, "u".into(), secret.clone(), false).err();
            let message = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(key), "{key}: {message}");
        }
        Ok(())
    }

    #[test]
    fn short_secrets_are_refused() {
        let result = Config::from_settings(Settings::default(), "u".into(), "short".into(), false);
        assert!(matches!(result, Err(ConfigError::ShortSecret(5))));
    }

    #[test]
    fn replica_settings_parse_and_refuse_bad_lags() -> Result<(), ConfigError> {
        let secret = "s".repeat(32);
        let defaults =
            Config::from_settings(Settings::default(), "u".into(), secret.clone(), false)?;
        assert!(defaults.db_replica_urls.is_empty());
        assert_eq!(
            defaults.db_replica_max_lag,
            std::time::Duration::from_secs(10)
        );
        let env = Settings::from_env(|name| match name {
            "PGBASE_DB_REPLICA_URLS" => {
                Some("postgres://a/x, postgres://b/x postgres://c/x".into())
            }
            "PGBASE_DB_REPLICA_MAX_LAG" => Some("0.5".into()),
            _ => None,
        })?;
        let config = Config::from_settings(env, "u".into(), secret.clone(), false)?;
        assert_eq!(config.db_replica_urls.len(), 3);
        assert_eq!(
            config.db_replica_max_lag,
            std::time::Duration::from_millis(500)
        );
        for bad in [0.0, -1.0, f64::NAN] {
            let settings = Settings {
                db_replica_max_lag: Some(bad),
                ..Settings::default()
            };
            let err = Config::from_settings(settings, "u".into(), secret.clone(), false);
            assert!(
                matches!(
                    err,
                    Err(ConfigError::Invalid {
                        key: "db_replica_max_lag",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        Ok(())
    }
}
