//! Configuration: every setting comes from a command-line flag, else an environment variable
//! (pgbase's own name first, then PostgREST's `PGRST_*` alias), else `pgbase.toml`, else its
//! default. Unknown keys in the file are an error. [`Settings::resolve`] does the layering;
//! the rest of the program only sees the resolved [`Config`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One layer of settings: the flags, the environment or the file. `None` = not set here.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Database URL the server connects with [env: DATABASE_URL, PGRST_DB_URI]
    #[arg(long)]
    pub db_url: Option<String>,
    /// Comma-separated schemas exposed by the APIs [default: public] [env: PGBASE_DB_SCHEMAS, PGRST_DB_SCHEMAS]
    #[arg(long)]
    pub db_schemas: Option<String>,
    /// Role for requests without a JWT [default: anon] [env: PGBASE_DB_ANON_ROLE, PGRST_DB_ANON_ROLE]
    #[arg(long)]
    pub db_anon_role: Option<String>,
    /// Maximum connections in the pool [default: 10] [env: PGBASE_DB_POOL, PGRST_DB_POOL]
    #[arg(long)]
    pub db_pool: Option<usize>,
    /// Hard cap on rows returned per level of a read; 0 means unlimited [default: 1000] [env: PGBASE_DB_MAX_ROWS, PGRST_DB_MAX_ROWS]
    #[arg(long)]
    pub db_max_rows: Option<i64>,
    /// Refuse PATCH/DELETE without a filter (as pg-safeupdate does on Supabase) [default: true] [env: PGBASE_DB_SAFE_UPDATE]
    #[arg(long)]
    pub db_safe_update: Option<bool>,
    /// Allow `Accept: application/vnd.pgrst.plan` (EXPLAIN) [default: on in dev, off in serve] [env: PGBASE_DB_PLAN_ENABLED, PGRST_DB_PLAN_ENABLED]
    #[arg(long)]
    pub db_plan_enabled: Option<bool>,
    /// Statement timeout of API requests, before the role's own `ALTER ROLE … SET statement_timeout`; `0` turns it off [default: 8s] [env: PGBASE_DB_STATEMENT_TIMEOUT]
    #[arg(long)]
    pub db_statement_timeout: Option<String>,
    /// HMAC secret for JWTs, at least 32 characters [env: PGBASE_JWT_SECRET, PGRST_JWT_SECRET]
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// Address to listen on [default: 127.0.0.1] [env: PGBASE_LISTEN, PGRST_SERVER_HOST]
    #[arg(long)]
    pub listen: Option<String>,
    /// Port to listen on [default: 54321] [env: PGBASE_PORT, PGRST_SERVER_PORT]
    #[arg(long)]
    pub port: Option<u16>,
    /// Log format: pretty or json [default: pretty] [env: PGBASE_LOG_FORMAT]
    #[arg(long)]
    pub log_format: Option<LogFormat>,
    /// Required `aud` of incoming JWTs [default: not checked] [env: PGBASE_JWT_AUD, PGRST_JWT_AUD]
    #[arg(long)]
    pub jwt_aud: Option<String>,
    /// Where the role is in the JWT claims [default: .role] [env: PGBASE_JWT_ROLE_CLAIM_KEY, PGRST_JWT_ROLE_CLAIM_KEY]
    #[arg(long)]
    pub jwt_role_claim_key: Option<String>,
    /// Extra verification keys: a JWKS as inline JSON, @FILE or an https URL [env: PGBASE_JWT_JWKS]
    #[arg(long)]
    pub jwt_jwks: Option<String>,
    /// Run the cron and net workers in this process [default: true] [env: PGBASE_JOBS]
    #[arg(long)]
    pub jobs: Option<bool>,
    /// Time zone of cron schedules [default: GMT] [env: PGBASE_CRON_TIMEZONE]
    #[arg(long)]
    pub cron_timezone: Option<String>,
    /// Days of cron.job_run_details to keep; 0 keeps everything [default: 7] [env: PGBASE_CRON_RETENTION_DAYS]
    #[arg(long)]
    pub cron_retention_days: Option<u32>,
    /// HTTP requests from SQL (net.*) in flight at once [default: 200] [env: PGBASE_NET_CONCURRENCY]
    #[arg(long)]
    pub net_concurrency: Option<usize>,
    /// Longest response body net.* stores; longer ones are cut and marked [default: 10485760] [env: PGBASE_NET_MAX_RESPONSE_BYTES]
    #[arg(long)]
    pub net_max_response_bytes: Option<usize>,
    /// GraphQL introspection (`__schema`, `__type`) [default: on in dev, off in serve] [env: PGBASE_GRAPHQL_INTROSPECTION]
    #[arg(long)]
    pub graphql_introspection: Option<bool>,
    /// Refuse net.* requests to private, loopback and link-local addresses [default: off in dev, on in serve] [env: PGBASE_NET_DENY_PRIVATE]
    #[arg(long)]
    pub net_deny_private: Option<bool>,
    /// Sign-ups plus password sign-ins per client address per window; 0 turns it off [default: 30] [env: PGBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UP]
    #[arg(long)]
    pub auth_rate_limit_sign_in_sign_up: Option<u32>,
    /// Refresh-token grants per client address per window; 0 turns it off [default: 150] [env: PGBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH, GOTRUE_RATE_LIMIT_TOKEN_REFRESH]
    #[arg(long)]
    pub auth_rate_limit_token_refresh: Option<u32>,
    /// Length of the auth rate-limit window in seconds [default: 300] [env: PGBASE_AUTH_RATE_LIMIT_WINDOW_SECS]
    #[arg(long)]
    pub auth_rate_limit_window_secs: Option<u64>,
    /// Comma-separated proxy addresses/CIDRs whose client_ip_header is believed [default: none] [env: PGBASE_TRUSTED_PROXIES]
    #[arg(long)]
    pub trusted_proxies: Option<String>,
    /// Header naming the client address, read only from trusted_proxies [default: x-forwarded-for] [env: PGBASE_CLIENT_IP_HEADER]
    #[arg(long)]
    pub client_ip_header: Option<String>,
    /// Bearer token for `/metrics` and the details of `/health` in serve (without one, `/metrics` answers 404 there and `/health` only `{"status":…}`; dev leaves both open) [default: none] [env: PGBASE_METRICS_TOKEN]
    #[arg(long)]
    pub metrics_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Environment variable names per setting: pgbase's own first, then the PostgREST alias.
const ENV_NAMES: &[(&str, &[&str])] = &[
    ("db_url", &["DATABASE_URL", "PGBASE_DB_URL", "PGRST_DB_URI"]),
    ("db_schemas", &["PGBASE_DB_SCHEMAS", "PGRST_DB_SCHEMAS"]),
    (
        "db_anon_role",
        &["PGBASE_DB_ANON_ROLE", "PGRST_DB_ANON_ROLE"],
    ),
    ("db_pool", &["PGBASE_DB_POOL", "PGRST_DB_POOL"]),
    ("db_max_rows", &["PGBASE_DB_MAX_ROWS", "PGRST_DB_MAX_ROWS"]),
    ("db_safe_update", &["PGBASE_DB_SAFE_UPDATE"]),
    (
        "db_plan_enabled",
        &["PGBASE_DB_PLAN_ENABLED", "PGRST_DB_PLAN_ENABLED"],
    ),
    ("db_statement_timeout", &["PGBASE_DB_STATEMENT_TIMEOUT"]),
    ("jwt_secret", &["PGBASE_JWT_SECRET", "PGRST_JWT_SECRET"]),
    ("listen", &["PGBASE_LISTEN", "PGRST_SERVER_HOST"]),
    ("port", &["PGBASE_PORT", "PGRST_SERVER_PORT"]),
    ("log_format", &["PGBASE_LOG_FORMAT"]),
    ("jwt_aud", &["PGBASE_JWT_AUD", "PGRST_JWT_AUD"]),
    (
        "jwt_role_claim_key",
        &["PGBASE_JWT_ROLE_CLAIM_KEY", "PGRST_JWT_ROLE_CLAIM_KEY"],
    ),
    ("jwt_jwks", &["PGBASE_JWT_JWKS"]),
    ("jobs", &["PGBASE_JOBS"]),
    ("cron_timezone", &["PGBASE_CRON_TIMEZONE"]),
    ("cron_retention_days", &["PGBASE_CRON_RETENTION_DAYS"]),
    ("net_concurrency", &["PGBASE_NET_CONCURRENCY"]),
    ("net_max_response_bytes", &["PGBASE_NET_MAX_RESPONSE_BYTES"]),
    ("net_deny_private", &["PGBASE_NET_DENY_PRIVATE"]),
    ("graphql_introspection", &["PGBASE_GRAPHQL_INTROSPECTION"]),
    (
        "auth_rate_limit_sign_in_sign_up",
        &["PGBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UP"],
    ),
    (
        "auth_rate_limit_token_refresh",
        &[
            "PGBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH",
            "GOTRUE_RATE_LIMIT_TOKEN_REFRESH",
        ],
    ),
    (
        "auth_rate_limit_window_secs",
        &["PGBASE_AUTH_RATE_LIMIT_WINDOW_SECS"],
    ),
    ("trusted_proxies", &["PGBASE_TRUSTED_PROXIES"]),
    ("client_ip_header", &["PGBASE_CLIENT_IP_HEADER"]),
    ("metrics_token", &["PGBASE_METRICS_TOKEN"]),
];

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

    /// Reads the environment through `lookup` (std::env::var in production).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut table = toml::Table::new();
        for (key, names) in ENV_NAMES {
            let Some((name, value)) = names
                .iter()
                .find_map(|name| lookup(name).map(|v| (*name, v)))
            else {
                continue;
            };
            let parsed = match *key {
                "db_pool"
                | "db_max_rows"
                | "port"
                | "cron_retention_days"
                | "net_concurrency"
                | "net_max_response_bytes"
                | "auth_rate_limit_sign_in_sign_up"
                | "auth_rate_limit_token_refresh"
                | "auth_rate_limit_window_secs" => value
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|e| e.to_string()),
                "db_plan_enabled"
                | "db_safe_update"
                | "jobs"
                | "net_deny_private"
                | "graphql_introspection" => parse_bool(&value).map(toml::Value::Boolean),
                "log_format" => Ok(toml::Value::String(value.trim().to_ascii_lowercase())),
                _ => Ok(toml::Value::String(value.clone())),
            };
            let parsed = parsed.map_err(|message| ConfigError::Env {
                name: name.to_string(),
                value: value.clone(),
                message,
            })?;
            table.insert((*key).to_string(), parsed);
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                name: "environment".into(),
                value: String::new(),
                message: e.to_string(),
            })
    }

    /// `self` wins over `lower` wherever it is set.
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            db_url: self.db_url.or(lower.db_url),
            db_schemas: self.db_schemas.or(lower.db_schemas),
            db_anon_role: self.db_anon_role.or(lower.db_anon_role),
            db_pool: self.db_pool.or(lower.db_pool),
            db_max_rows: self.db_max_rows.or(lower.db_max_rows),
            db_safe_update: self.db_safe_update.or(lower.db_safe_update),
            db_plan_enabled: self.db_plan_enabled.or(lower.db_plan_enabled),
            db_statement_timeout: self.db_statement_timeout.or(lower.db_statement_timeout),
            jwt_secret: self.jwt_secret.or(lower.jwt_secret),
            listen: self.listen.or(lower.listen),
            port: self.port.or(lower.port),
            log_format: self.log_format.or(lower.log_format),
            jwt_aud: self.jwt_aud.or(lower.jwt_aud),
            jwt_role_claim_key: self.jwt_role_claim_key.or(lower.jwt_role_claim_key),
            jwt_jwks: self.jwt_jwks.or(lower.jwt_jwks),
            jobs: self.jobs.or(lower.jobs),
            cron_timezone: self.cron_timezone.or(lower.cron_timezone),
            cron_retention_days: self.cron_retention_days.or(lower.cron_retention_days),
            net_concurrency: self.net_concurrency.or(lower.net_concurrency),
            net_max_response_bytes: self.net_max_response_bytes.or(lower.net_max_response_bytes),
            net_deny_private: self.net_deny_private.or(lower.net_deny_private),
            graphql_introspection: self.graphql_introspection.or(lower.graphql_introspection),
            auth_rate_limit_sign_in_sign_up: self
                .auth_rate_limit_sign_in_sign_up
                .or(lower.auth_rate_limit_sign_in_sign_up),
            auth_rate_limit_token_refresh: self
                .auth_rate_limit_token_refresh
                .or(lower.auth_rate_limit_token_refresh),
            auth_rate_limit_window_secs: self
                .auth_rate_limit_window_secs
                .or(lower.auth_rate_limit_window_secs),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            client_ip_header: self.client_ip_header.or(lower.client_ip_header),
            metrics_token: self.metrics_token.or(lower.metrics_token),
        }
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

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
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
    pub jwt_secret: String,
    pub listen: String,
    pub port: u16,
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
    /// Who may read `/metrics` and the details of `/health`.
    pub ops_access: OpsAccess,
    pub auth_rate_limit_sign_in_sign_up: u32,
    pub auth_rate_limit_token_refresh: u32,
    pub auth_rate_limit_window_secs: u64,
    pub trusted_proxies: Vec<pgbase_auth::IpCidr>,
    pub client_ip_header: String,
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
            db_plan_enabled: s.db_plan_enabled.unwrap_or(dev),
            db_statement_timeout: statement_timeout(s.db_statement_timeout)?,
            jwt_secret,
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
            auth_rate_limit_sign_in_sign_up: s.auth_rate_limit_sign_in_sign_up.unwrap_or(30),
            auth_rate_limit_token_refresh: s.auth_rate_limit_token_refresh.unwrap_or(150),
            auth_rate_limit_window_secs: s.auth_rate_limit_window_secs.unwrap_or(300).max(1),
            trusted_proxies: trusted_proxies(s.trusted_proxies.as_deref())?,
            client_ip_header: s
                .client_ip_header
                .unwrap_or_else(|| "x-forwarded-for".into())
                .to_ascii_lowercase(),
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

        let env = Settings::from_env(|name| match name {
            "PGBASE_DB_STATEMENT_TIMEOUT" => Some("500ms".into()),
            "PGBASE_NET_MAX_RESPONSE_BYTES" => Some("1024".into()),
            "PGBASE_TRUSTED_PROXIES" => Some("10.0.0.0/8, ::1".into()),
            "GOTRUE_RATE_LIMIT_TOKEN_REFRESH" => Some("7".into()),
            _ => None,
        })?;
        let config = Config::from_settings(env, "u".into(), secret.clone(), false)?;
        assert_eq!(config.db_statement_timeout, "500ms");
        assert_eq!(config.net_max_response_bytes, 1024);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.auth_rate_limit_token_refresh, 7);

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
}
