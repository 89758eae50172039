//! TLS to Postgres with libpq's `sslmode` semantics, over rustls.
//!
//! [`parse_url`] turns a database URL (`postgres://…?sslmode=verify-full&sslrootcert=ca.pem`) or a
//! libpq key/value string into a [`ConnectConfig`]: the `tokio_postgres::Config` with the TLS
//! parameters stripped (tokio-postgres rejects `sslrootcert`, `sslcert`, `sslkey` and the
//! `verify-*` modes) plus the [`TlsSettings`], the URL's parameters winning over `PGSSLMODE`,
//! `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY`. [`MakeRustls`] is the `MakeTlsConnect` every
//! connection of pgbase goes through.
//!
//! Modes, as in libpq: `disable` (plain), `allow`/`prefer` (TLS when the server offers it,
//! otherwise plain; `allow` is treated as `prefer`), `require` (TLS, certificate not checked —
//! unless a root certificate is given or `~/.postgresql/root.crt` exists, then as `verify-ca`),
//! `verify-ca` (certificate chains to `sslrootcert`), `verify-full` (and names the host).
//! `sslrootcert=system` uses the system's roots and, as in libpq, implies `verify-full`.
//! Unix-socket connections never use TLS (Postgres refuses it there), as in libpq.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::Host;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Connection, Socket};

/// What can be wrong with a database URL's connection or TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error(
        "invalid database URL: {0}\nhint: postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require"
    )]
    Url(String),
    #[error(
        "unknown sslmode {0:?}\nhint: use one of disable, allow, prefer, require, verify-ca, verify-full"
    )]
    UnknownMode(String),
    #[error(
        "sslmode={mode} needs a root certificate to check the server against, and {default} does not exist\nhint: add sslrootcert=/path/to/ca.pem (or sslrootcert=system for the system's roots) to the database URL, or set PGSSLROOTCERT"
    )]
    NoRootCert { mode: SslMode, default: String },
    #[error(
        "sslmode={0} may not be used with sslrootcert=system (as in libpq)\nhint: use sslmode=verify-full, or leave sslmode out"
    )]
    WeakModeWithSystemRoots(SslMode),
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("sslcert is set but sslkey is not (or the other way round)\nhint: give both files")]
    HalfClientCert,
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Result<SslMode, TlsConfigError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(TlsConfigError::UnknownMode(other.to_string())),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn driver_mode(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as M;
        match self {
            SslMode::Disable => M::Disable,
            SslMode::Allow | SslMode::Prefer => M::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => M::Require,
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    File(PathBuf),
    /// The operating system's trust store.
    System,
}

/// The TLS half of a database URL, after the URL/environment precedence was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: SslMode::Prefer,
            root_cert: None,
            cert: None,
            key: None,
        }
    }
}

/// A parsed database URL: the driver's config and the TLS connector (cheap to clone).
#[derive(Clone)]
pub struct ConnectConfig {
    pub pg: tokio_postgres::Config,
    pub tls: MakeRustls,
    /// What the URL and environment asked for (`mode` after the unix-socket rule), e.g. for a
    /// health report.
    pub settings: TlsSettings,
}

impl std::fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio_postgres::Config's Debug redacts the password.
        f.debug_struct("ConnectConfig")
            .field("pg", &self.pg)
            .field("sslmode", &self.tls.mode())
            .finish()
    }
}

/// A plain `tokio_postgres::Config` (tests, embedders): libpq's default, `prefer`, without
/// certificate checks (or plain when the config says `sslmode=disable` or uses a unix socket).
impl From<tokio_postgres::Config> for ConnectConfig {
    fn from(mut pg: tokio_postgres::Config) -> Self {
        let mode = match pg.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => SslMode::Disable,
            tokio_postgres::config::SslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        let mode = effective_mode(&pg, mode);
        pg.ssl_mode(mode.driver_mode());
        let tls = MakeRustls::unverified(mode);
        let settings = TlsSettings {
            mode,
            ..TlsSettings::default()
        };
        ConnectConfig { pg, tls, settings }
    }
}

impl ConnectConfig {
    /// Parses a URL, taking TLS defaults from the process environment.
    pub fn from_url(url: &str) -> Result<ConnectConfig, TlsConfigError> {
        parse_url(url, &|name| std::env::var(name).ok())
    }

    /// Opens one connection (the caller drives the returned connection).
    pub async fn connect(
        &self,
    ) -> Result<(Client, Connection<Socket, RustlsStream>), tokio_postgres::Error> {
        self.pg.connect(self.tls.clone()).await
    }
}

/// The TLS parameters tokio-postgres does not know and pgbase takes out of the URL.
const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Parses a database URL (`postgres://` / `postgresql://`, or libpq `key=value` pairs) into the
/// driver's config and the TLS connector; `env` supplies `PGSSLMODE`, `PGSSLROOTCERT`,
/// `PGSSLCERT`, `PGSSLKEY` (and `HOME` for libpq's default `~/.postgresql/` files).
pub fn parse_url(
    url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectConfig, TlsConfigError> {
    let (rest, params) = split_tls_params(url)?;
    let mut pg: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!("{e}: {c}"))
            .unwrap_or_else(|| e.to_string());
        TlsConfigError::Url(cause)
    })?;
    let get = |key: &str, var: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| env(var))
            .filter(|v| !v.is_empty())
    };
    let home = env("HOME").map(PathBuf::from);
    let root_cert = get("sslrootcert", "PGSSLROOTCERT").map(|v| {
        if v == "system" {
            RootCert::System
        } else {
            RootCert::File(PathBuf::from(v))
        }
    });
    let mode = match get("sslmode", "PGSSLMODE") {
        Some(m) => SslMode::parse(&m)?,
        None if root_cert == Some(RootCert::System) => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if root_cert == Some(RootCert::System) && mode != SslMode::VerifyFull {
        return Err(TlsConfigError::WeakModeWithSystemRoots(mode));
    }
    let default_file = |name: &str| {
        home.as_ref()
            .map(|h| h.join(".postgresql").join(name))
            .filter(|p| p.is_file())
    };
    let mut cert = get("sslcert", "PGSSLCERT").map(PathBuf::from);
    let mut key = get("sslkey", "PGSSLKEY").map(PathBuf::from);
    if cert.is_none() && key.is_none() {
        // libpq's defaults, used when present.
        cert = default_file("postgresql.crt");
        key = cert.as_ref().and_then(|_| default_file("postgresql.key"));
        if key.is_none() {
            cert = None;
        }
    }
    let settings = TlsSettings {
        mode,
        root_cert: root_cert.or_else(|| default_file("root.crt").map(RootCert::File)),
        cert,
        key,
    };
    let mode = effective_mode(&pg, settings.mode);
    pg.ssl_mode(mode.driver_mode());
    let settings = TlsSettings { mode, ..settings };
    let tls = if mode == SslMode::Disable {
        MakeRustls::unverified(SslMode::Disable)
    } else {
        let default_root = home
            .as_ref()
            .map(|h| h.join(".postgresql/root.crt").display().to_string())
            .unwrap_or_else(|| "~/.postgresql/root.crt".to_string());
        MakeRustls::new(&settings, &default_root)?
    };
    Ok(ConnectConfig { pg, tls, settings })
}

/// Unix sockets never use TLS (Postgres answers `N` there); libpq ignores sslmode for them.
fn effective_mode(pg: &tokio_postgres::Config, mode: SslMode) -> SslMode {
    let hosts = pg.get_hosts();
    if !hosts.is_empty() && hosts.iter().all(|h| matches!(h, Host::Unix(_))) {
        SslMode::Disable
    } else {
        mode
    }
}

/// Removes the TLS parameters from a URL's query string or a key/value string.
fn split_tls_params(url: &str) -> Result<(String, Vec<(String, String)>), TlsConfigError> {
    let url = url.trim();
    let mut found = Vec::new();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // The query starts at the first '?' after the authority's userinfo (a password must
        // percent-encode '?', but be lenient about the '@').
        let after_at = url.rfind('@').map_or(0, |i| i + 1);
        let Some(q) = url[after_at..].find('?').map(|i| i + after_at) else {
            return Ok((url.to_string(), found));
        };
        let mut kept = Vec::new();
        for pair in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if TLS_KEYS.contains(&k) {
                let v = percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .map_err(|_| TlsConfigError::Url(format!("{k} is not valid UTF-8")))?;
                found.push((k.to_string(), v.into_owned()));
            } else {
                kept.push(pair);
            }
        }
        let base = &url[..q];
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, found));
    }
    // key=value pairs; values may be single-quoted with backslash escapes.
    let mut kept = Vec::new();
    let mut chars = url.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(TlsConfigError::Url(format!("expected = after {key:?}")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            raw.push('\'');
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                raw.push(c);
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            raw.push(n);
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(TlsConfigError::Url("unterminated quoted value".into()));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        raw.push(c);
                        raw.push(n);
                        value.push(n);
                    }
                } else {
                    raw.push(c);
                    value.push(c);
                }
            }
        }
        if TLS_KEYS.contains(&key.as_str()) {
            found.push((key, value));
        } else {
            kept.push(format!("{key}={raw}"));
        }
    }
    Ok((kept.join(" "), found))
}

/// The `MakeTlsConnect` of every pgbase connection: rustls with the verifier the mode asks for.
#[derive(Clone)]
pub struct MakeRustls {
    mode: SslMode,
    /// None only if rustls could not be set up (a handshake then fails with that reason).
    config: Option<Arc<ClientConfig>>,
    /// The trusted roots, for error messages ("system", a path, or none).
    roots: Arc<str>,
}

impl MakeRustls {
    /// TLS without certificate checks (libpq's `prefer`/`require` without a root certificate).
    fn unverified(mode: SslMode) -> MakeRustls {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // Only fails for a provider without cipher suites, which the built-in one is not.
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .ok()
            .map(|b| {
                Arc::new(
                    b.dangerous()
                        .with_custom_certificate_verifier(Arc::new(NoCertCheck(provider)))
                        .with_no_client_auth(),
                )
            });
        MakeRustls {
            mode,
            config,
            roots: Arc::from("none"),
        }
    }

    /// Builds the client configuration for `settings` (reads the certificate files).
    pub fn new(settings: &TlsSettings, default_root: &str) -> Result<MakeRustls, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mode = settings.mode;
        let mut roots = RootCertStore::empty();
        let roots_label: String = match &settings.root_cert {
            Some(RootCert::System) => {
                let loaded = rustls_native_certs::load_native_certs();
                for cert in loaded.certs {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(TlsConfigError::File {
                        what: "the system's root certificates",
                        path: "(sslrootcert=system)".into(),
                        reason: "none found".into(),
                    });
                }
                "the system's roots".into()
            }
            Some(RootCert::File(path)) => {
                for cert in read_certs(path, "root certificate (sslrootcert)")? {
                    roots.add(cert).map_err(|e| TlsConfigError::File {
                        what: "root certificate (sslrootcert)",
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                }
                path.display().to_string()
            }
            None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(TlsConfigError::NoRootCert {
                    mode,
                    default: default_root.to_string(),
                });
            }
            None => "none".into(),
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = if roots.is_empty() {
            Arc::new(NoCertCheck(provider.clone()))
        } else {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                // verify-ca, and require/prefer with a root certificate (libpq).
                Arc::new(NoNameCheck(webpki))
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&settings.cert, &settings.key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "client certificate (sslcert)")?;
                let key_der =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| TlsConfigError::File {
                        what: "client key (sslkey)",
                        path: key.display().to_string(),
                        reason: e.to_string(),
                    })?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(TlsConfigError::HalfClientCert),
        };
        Ok(MakeRustls {
            mode,
            config: Some(Arc::new(config)),
            roots: Arc::from(roots_label),
        })
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }
}

fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let err = |reason: String| TlsConfigError::File {
        what,
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, TlsError> {
        // Never fails here: tokio-postgres asks even for sslmode=disable and unix sockets.
        Ok(RustlsConnect {
            make: self.clone(),
            domain: domain.to_string(),
        })
    }
}

/// Why a TLS handshake failed, with the mode and, for certificates, the reason in words.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS handshake failed (sslmode={mode}): {reason}")]
    Handshake { mode: SslMode, reason: String },
    #[error("invalid host name for TLS (sslmode={mode}): {host:?}")]
    HostName { mode: SslMode, host: String },
}

/// One pending handshake.
pub struct RustlsConnect {
    make: MakeRustls,
    domain: String,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, TlsError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let mode = self.make.mode;
            let name =
                ServerName::try_from(self.domain.clone()).map_err(|_| TlsError::HostName {
                    mode,
                    host: self.domain.clone(),
                })?;
            let Some(config) = self.make.config.clone() else {
                return Err(TlsError::Handshake {
                    mode,
                    reason: "rustls could not be set up".into(),
                });
            };
            let connector = tokio_rustls::TlsConnector::from(config);
            match connector.connect(name, stream).await {
                Ok(tls) => Ok(RustlsStream(Box::new(tls))),
                Err(e) => Err(TlsError::Handshake {
                    mode,
                    reason: handshake_reason(&e, &self.domain, &self.make.roots),
                }),
            }
        })
    }
}

/// Words for a failed handshake: unknown CA, host name mismatch, expired, …
fn handshake_reason(e: &std::io::Error, host: &str, roots: &str) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "the server's certificate is signed by an unknown CA (not one of the roots in {roots})"
            ),
            CertificateError::NotValidForName => {
                format!("host name mismatch: the server's certificate is not valid for {host:?}")
            }
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "host name mismatch: the server's certificate is not valid for {host:?} (it names {})",
                presented
                    .iter()
                    .map(|p| p
                        .strip_prefix("DnsName(\"")
                        .and_then(|p| p.strip_suffix("\")"))
                        .unwrap_or(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (check the clock)".to_string()
            }
            CertificateError::Revoked => "the server's certificate was revoked".to_string(),
            other => format!("the server's certificate is invalid: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => format!(
            "the server ended the handshake ({alert:?}); it may require a client certificate (sslcert/sslkey) it trusts"
        ),
        other => other.to_string(),
    }
}

/// A TLS connection to Postgres.
pub struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (as libpq's default `channel_binding=prefer` allows).
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// `require`/`prefer` without a root certificate: encrypted, not authenticated (libpq's
/// behaviour). Handshake signatures are still checked.
#[derive(Debug)]
struct NoCertCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct NoNameCheck(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for NoNameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn strips_tls_params_and_keeps_the_rest() {
        let (rest, found) = split_tls_params(
            "postgres://u:p@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(
            found,
            vec![
                ("sslmode".to_string(), "verify-full".to_string()),
                ("sslrootcert".to_string(), "/tmp/ca.pem".to_string())
            ]
        );
        let (rest, found) =
            split_tls_params("host=h user=u sslmode=require password='a b\\'c' sslkey=/k").unwrap();
        assert_eq!(rest, "host=h user=u password='a b\\'c'");
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn url_wins_over_environment() {
        let e = env(&[("PGSSLMODE", "disable"), ("PGSSLROOTCERT", "/nope.pem")]);
        let c = parse_url("postgres://u@127.0.0.1/db?sslmode=require", &e).unwrap_err();
        // The environment's root file is used (require + root => verify-ca) and is missing.
        assert!(c.to_string().contains("/nope.pem"), "{c}");
        let c = parse_url("postgres://u@127.0.0.1/db?sslmode=require", &env(&[])).unwrap();
        assert_eq!(c.tls.mode(), SslMode::Require);
        assert_eq!(
            c.pg.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let c = parse_url(
            "postgres://u@127.0.0.1/db",
            &env(&[("PGSSLMODE", "disable")]),
        )
        .unwrap();
        assert_eq!(c.tls.mode(), SslMode::Disable);
        assert_eq!(
            c.pg.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        let c = parse_url(
            "postgres://u@127.0.0.1/db?sslmode=prefer",
            &env(&[("PGSSLMODE", "disable")]),
        )
        .unwrap();
        assert_eq!(c.tls.mode(), SslMode::Prefer);
    }

    #[test]
    fn each_parameter_takes_the_url_first_then_the_environment() {
        let e = env(&[
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", "/env/ca.pem"),
            ("PGSSLCERT", "/env/c.pem"),
            ("PGSSLKEY", "/env/k.pem"),
        ]);
        // The URL's sslrootcert wins over PGSSLROOTCERT (the error names the URL's file).
        let err = parse_url("postgres://u@h/db?sslrootcert=/url/ca.pem", &e).unwrap_err();
        assert!(err.to_string().contains("/url/ca.pem"), "{err}");
        // The environment's files are used when the URL has none.
        let err = parse_url("postgres://u@h/db", &e).unwrap_err();
        assert!(err.to_string().contains("/env/ca.pem"), "{err}");
        // disable from the URL: nothing is read, the environment's files are kept as settings.
        let c = parse_url("postgres://u@h/db?sslmode=disable", &e).unwrap();
        assert_eq!(c.settings.mode, SslMode::Disable);
        assert_eq!(c.settings.cert, Some(PathBuf::from("/env/c.pem")));
        assert_eq!(
            c.settings.root_cert,
            Some(RootCert::File(PathBuf::from("/env/ca.pem")))
        );
    }

    #[test]
    fn default_is_prefer_and_unix_sockets_are_plain() {
        let c = parse_url("postgres://u@localhost/db", &env(&[])).unwrap();
        assert_eq!(c.tls.mode(), SslMode::Prefer);
        let c = parse_url("host=/tmp user=u sslmode=require", &env(&[])).unwrap();
        assert_eq!(c.tls.mode(), SslMode::Disable);
    }

    #[test]
    fn unknown_mode_and_missing_root_are_clear() {
        let e = parse_url("postgres://u@h/db?sslmode=verify_full", &env(&[])).unwrap_err();
        assert!(
            e.to_string().contains("unknown sslmode \"verify_full\""),
            "{e}"
        );
        let e = parse_url("postgres://u@h/db", &env(&[("PGSSLMODE", "bogus")])).unwrap_err();
        assert!(e.to_string().contains("unknown sslmode \"bogus\""), "{e}");
        let e = parse_url(
            "postgres://u@h/db?sslmode=verify-full",
            &env(&[("HOME", "/nonexistent-home")]),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("sslmode=verify-full needs a root certificate"),
            "{text}"
        );
        assert!(
            text.contains("/nonexistent-home/.postgresql/root.crt"),
            "{text}"
        );
        let e = parse_url(
            "postgres://u@h/db?sslmode=require&sslrootcert=system",
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("sslrootcert=system"), "{e}");
        let e = parse_url("postgres://u@h/db?sslcert=/c.pem", &env(&[])).unwrap_err();
        assert!(e.to_string().contains("sslkey"), "{e}");
    }

    #[test]
    fn password_is_not_in_url_errors() {
        let e = parse_url("postgres://u:s3cret@h:notaport/db", &env(&[])).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
