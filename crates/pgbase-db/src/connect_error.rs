//! Connection failures in words: the server's own message (`tokio_postgres::Error` displays a
//! refusal as a bare "db error") or the network/TLS cause, and a one-line fix.
//!
//! [`explain`] reads `as_db_error()` and the error's source chain; nothing it prints contains
//! the password.

use std::error::Error as _;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;

use crate::tls::TlsError;

/// Why a connection could not be opened, with the fix when one is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFailure {
    /// Display: the message, then `hint: …` on its own line.
    #[error("{message}{}", hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Failed {
        message: String,
        hint: Option<String>,
    },
}

impl ConnectFailure {
    pub fn message(&self) -> &str {
        let ConnectFailure::Failed { message, .. } = self;
        message
    }

    pub fn hint(&self) -> Option<&str> {
        let ConnectFailure::Failed { hint, .. } = self;
        hint.as_deref()
    }

    /// For logs: `message (fix: hint)` on one line.
    pub fn one_line(&self) -> String {
        match self.hint() {
            Some(h) => format!("{} (fix: {h})", self.message()),
            None => self.message().to_string(),
        }
    }
}

/// Each host of a config with its port, as libpq pairs them: one port for every host, or one
/// per host; 5432 when none is given.
pub(crate) fn hosts_with_ports(config: &tokio_postgres::Config) -> Vec<(&Host, u16)> {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            (host, port)
        })
        .collect()
}

/// Where the config points, for messages: `host:port` list (never the password).
fn target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = hosts_with_ports(config)
        .into_iter()
        .map(|(host, port)| match host {
            Host::Tcp(h) => format!("{h}:{port}"),
            Host::Unix(p) => format!("{}/.s.PGSQL.{port}", p.display()),
        })
        .collect();
    if hosts.is_empty() {
        "localhost:5432".into()
    } else {
        hosts.join(",")
    }
}

fn failed(message: String, hint: impl Into<Option<String>>) -> ConnectFailure {
    ConnectFailure::Failed {
        message,
        hint: hint.into(),
    }
}

/// `pgbase migrate` makes `authenticator` without a password; the login for `serve` on a managed
/// database is its owner (README, "Deploying").
const AUTHENTICATOR_HINT: &str = "pgbase migrate creates authenticator without a password: serve as the database owner (the login that ran pgbase migrate), or have the owner run ALTER ROLE authenticator PASSWORD '…'; and serve only the API with it (jobs = false)";

/// Explains a failure to connect with `config` (or a query error's connection cause).
pub fn explain(error: &tokio_postgres::Error, config: &tokio_postgres::Config) -> ConnectFailure {
    let user = config.get_user().unwrap_or("(default user)");
    let dbname = config.get_dbname().unwrap_or(user);
    let at = target(config);
    if let Some(db) = error.as_db_error() {
        let mut message = format!(
            "the database server refused the connection: {}",
            db.message()
        );
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        let code = db.code();
        let hint = if *code == SqlState::INVALID_PASSWORD && user == "authenticator" {
            Some(AUTHENTICATOR_HINT.to_string())
        } else if *code == SqlState::INVALID_PASSWORD {
            Some(format!(
                "check the password for user {user:?} in the database URL (percent-encode special characters)"
            ))
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            && db.message().contains("not permitted to log in")
        {
            Some(format!(
                "{user} is not a login role (anon, authenticated and service_role are the NOLOGIN roles requests switch to): serve as the database owner (the login that ran pgbase migrate)"
            ))
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            && db.message().contains("pg_hba.conf")
        {
            if db.message().contains("no encryption") {
                Some("the server accepts only TLS connections from here: add sslmode=require (or verify-full with sslrootcert=CA.pem) to the database URL".into())
            } else {
                Some(format!(
                    "the server's pg_hba.conf has no line for user {user:?}, database {dbname:?} from this address (and this sslmode): add one, or connect as a user/database it allows"
                ))
            }
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            && db.message().contains("does not exist")
        {
            Some(format!(
                "create the role (CREATE ROLE {user} LOGIN PASSWORD '…') or fix the user name in the database URL"
            ))
        } else if db.message().contains("client certificate") {
            Some("set sslcert and sslkey (or PGSSLCERT/PGSSLKEY) to a certificate signed by a CA the server trusts (ssl_ca_file), whose CN is the user name".into())
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            Some(format!(
                "create it (CREATE DATABASE {dbname}, or `createdb {dbname}`) or fix the database name in the URL"
            ))
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            Some("lower db_pool or raise the server's max_connections".into())
        } else if *code == SqlState::CANNOT_CONNECT_NOW {
            Some("the server is starting up or shutting down; try again in a moment".into())
        } else {
            db.hint().map(str::to_string)
        };
        return failed(message, hint);
    }
    let mut cause = error.source();
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<TlsError>() {
            let text = tls.to_string();
            let hint = if text.contains("unknown CA") {
                "set sslrootcert to the CA that signed the server's certificate (your provider's CA bundle), or sslrootcert=system for a public CA"
            } else if text.contains("host name mismatch") {
                "connect with the host name the certificate was issued for, or use sslmode=verify-ca to check only the CA"
            } else if text.contains("expired") || text.contains("not valid yet") {
                "renew the server's certificate (or fix this machine's clock)"
            } else {
                "check the server's TLS setup and the sslmode, sslrootcert, sslcert and sslkey settings"
            };
            return failed(format!("{at}: {text}"), Some(hint.to_string()));
        }
        if c.to_string() == "server does not support TLS" {
            let mode = match config.get_ssl_mode() {
                tokio_postgres::config::SslMode::Require => "require or verify-*",
                _ => "that requires TLS",
            };
            return failed(
                format!(
                    "{at}: the server does not support TLS, and sslmode={mode} demands it"
                ),
                Some("turn on ssl in the server's postgresql.conf, or use sslmode=prefer (or disable) on a trusted network".into()),
            );
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            let (what, hint) = match io.kind() {
                K::ConnectionRefused => (
                    "connection refused".to_string(),
                    "is Postgres running and listening there? check the host and port in the database URL (and the server's listen_addresses)",
                ),
                K::NotFound if matches!(config.get_hosts().first(), Some(Host::Unix(_))) => (
                    "no Postgres socket there".to_string(),
                    "is Postgres running? check the socket directory (host=) and port",
                ),
                K::TimedOut => (
                    "timed out".to_string(),
                    "check that the host is reachable from here (firewall, security group, VPN)",
                ),
                K::HostUnreachable | K::NetworkUnreachable => (
                    "host unreachable".to_string(),
                    "check the host name and the network route to it (firewall, security group, VPN)",
                ),
                K::ConnectionReset | K::UnexpectedEof => (
                    format!("the server closed the connection ({io})"),
                    "check the server's log; a proxy or the server may require TLS (sslmode=require)",
                ),
                _ if io.to_string().contains("lookup") => {
                    (io.to_string(), "check the host name in the database URL")
                }
                _ => (
                    io.to_string(),
                    "check the host and port in the database URL",
                ),
            };
            return failed(format!("{at}: {what}"), Some(hint.to_string()));
        }
        cause = c.source();
    }
    // Anything else: the whole chain, never a bare "db error".
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if text.contains("password missing") {
        return failed(
            format!("{at}: the server asks user {user:?} for a password and the URL has none"),
            Some(if user == "authenticator" {
                AUTHENTICATOR_HINT.to_string()
            } else {
                "put the password in the database URL: postgres://USER:PASSWORD@HOST:PORT/DB (percent-encode special characters)".to_string()
            }),
        );
    }
    if error.is_closed() || text.contains("timeout") {
        return failed(
            format!("{at}: {text}"),
            Some("check that the database server is up and reachable".to_string()),
        );
    }
    failed(format!("{at}: {text}"), None)
}
