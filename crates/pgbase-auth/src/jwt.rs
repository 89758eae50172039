//! Request authentication: `Authorization: Bearer <jwt>`, else the `apikey` header, else the
//! anonymous role — the way PostgREST (behind Supabase's gateway) turns a request into a
//! database role plus the claims that `request.jwt.claims` carries.
//!
//! An [`Authenticator`] is built once from a [`JwtConfig`]: an HMAC secret, a PEM public key
//! and/or a JWKS (inline, file or URL; refetched when a token names an unknown `kid`). It checks
//! the signature (HS/RS/PS 256–512, ES256/384, EdDSA; `alg: none` is refused), `exp`/`nbf`/`iat`
//! with a leeway (30 s, as PostgREST), refuses any `crit` header (no critical extension is
//! understood, so RFC 7515 requires rejection), checks `aud` when one is configured, reads the role from a
//! configurable claim path (`.role`, `.app_metadata.role`, …) and refuses roles the server may
//! not assume. Verified tokens are kept in a bounded cache until they expire.
//!
//! Failures are [`AuthError`]s carrying PostgREST's codes (`PGRST301`/`302`/`303`), messages and
//! `WWW-Authenticate` header, so the REST layer renders them as `{code, message, details, hint}`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

/// Where a JSON Web Key Set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// The JWKS JSON itself (`{"keys":[…]}`), or a single JWK object.
    Inline(String),
    /// A file holding the JWKS JSON; re-read when a token names an unknown `kid`.
    File(PathBuf),
    /// An `http(s)` URL serving the JWKS; fetched on first use and again on an unknown `kid`.
    Url(String),
}

/// Which roles a token may name (the roles granted to the server's login role).
#[derive(Clone, Default)]
pub enum RoleFilter {
    /// Any role (the database refuses the ones it cannot switch to).
    #[default]
    Any,
    /// Only these roles.
    List(Vec<String>),
    /// Ask a function (e.g. one backed by the schema cache's `pg_auth_members`).
    Callback(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl RoleFilter {
    fn allows(&self, role: &str) -> bool {
        match self {
            RoleFilter::Any => true,
            RoleFilter::List(roles) => roles.iter().any(|r| r == role),
            RoleFilter::Callback(f) => f(role),
        }
    }
}

impl fmt::Debug for RoleFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleFilter::Any => f.write_str("Any"),
            RoleFilter::List(roles) => f.debug_tuple("List").field(roles).finish(),
            RoleFilter::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

/// An opaque (non-JWT) API key accepted in the `apikey` header, like Supabase's
/// `sb_publishable_…` / `sb_secret_…` keys: the gateway maps it to a role.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key as clients send it.
    pub key: String,
    /// The role a request carrying it runs as.
    pub role: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// How requests are authenticated. [`Default`] gives PostgREST's defaults with no key at all;
/// set at least one of `secret`, `public_key_pem`, `jwks`.
#[derive(Clone)]
pub struct JwtConfig {
    /// HMAC secret (HS256/384/512), at least 32 characters (PostgREST's `jwt-secret`).
    pub secret: Option<String>,
    /// The secret is base64 (PostgREST's `jwt-secret-is-base64`).
    pub secret_is_base64: bool,
    /// A PEM public key: RSA (`RS*`/`PS*`), EC P-256/P-384 (`ES256`/`ES384`) or Ed25519 (`EdDSA`).
    pub public_key_pem: Option<String>,
    /// A JSON Web Key Set.
    pub jwks: Option<JwksSource>,
    /// When set, a token's `aud` (string or array) must contain it; tokens without `aud` pass.
    pub audience: Option<String>,
    /// Where the role is in the claims, PostgREST's `jwt-role-claim-key`: `.role` (default),
    /// `.app_metadata.role`, `."https://example.com/role"`, `.roles[0]`.
    pub role_claim_key: String,
    /// The role of requests without a token (`db-anon-role`); `None` makes tokens mandatory.
    pub anon_role: Option<String>,
    /// Roles a token may name.
    pub assumable_roles: RoleFilter,
    /// Opaque keys accepted in the `apikey` header.
    pub api_keys: Vec<ApiKey>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (30).
    pub leeway_secs: u64,
    /// How many verified tokens to remember (10 000); 0 turns the cache off.
    pub cache_capacity: usize,
    /// The JWKS is fetched again on an unknown `kid` at most this often (10 s).
    pub jwks_refetch_interval: Duration,
    /// Timeout of a JWKS fetch (5 s).
    pub jwks_fetch_timeout: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: None,
            secret_is_base64: false,
            public_key_pem: None,
            jwks: None,
            audience: None,
            role_claim_key: ".role".to_string(),
            anon_role: Some("anon".to_string()),
            assumable_roles: RoleFilter::Any,
            api_keys: Vec::new(),
            leeway_secs: 30,
            cache_capacity: 10_000,
            jwks_refetch_interval: Duration::from_secs(10),
            jwks_fetch_timeout: Duration::from_secs(5),
        }
    }
}

impl JwtConfig {
    /// PostgREST's defaults with an HMAC secret, anon role `anon`, and the three API roles
    /// (`anon`, `authenticated`, `service_role`) as the only assumable ones.
    pub fn with_secret(secret: impl Into<String>) -> Self {
        JwtConfig {
            secret: Some(secret.into()),
            assumable_roles: RoleFilter::List(vec![
                "anon".to_string(),
                "authenticated".to_string(),
                "service_role".to_string(),
            ]),
            ..JwtConfig::default()
        }
    }
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem.is_some())
            .field("jwks", &self.jwks)
            .field("audience", &self.audience)
            .field("role_claim_key", &self.role_claim_key)
            .field("anon_role", &self.anon_role)
            .field("assumable_roles", &self.assumable_roles)
            .field("api_keys", &self.api_keys)
            .field("leeway_secs", &self.leeway_secs)
            .field("cache_capacity", &self.cache_capacity)
            .finish()
    }
}

/// Why a [`JwtConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(
        "the JWT secret must be at least 32 characters (it has {0}); generate one with `openssl rand -hex 32`"
    )]
    ShortSecret(usize),
    #[error("the JWT secret is not valid base64 (jwt_secret_is_base64 is on)")]
    SecretNotBase64,
    #[error("the JWT public key is not a PEM RSA, EC (P-256/P-384) or Ed25519 public key")]
    BadPem,
    #[error("the JWKS is not valid: {0}")]
    BadJwks(String),
    #[error("cannot read the JWKS file {path}: {source}")]
    JwksFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "invalid role claim key {key:?} at byte {at}: use a path like .role, .app_metadata.role, .\"https://x/role\" or .roles[0]"
    )]
    RoleClaimKey { key: String, at: usize },
    #[error("cannot build the HTTP client for the JWKS URL: {0}")]
    HttpClient(String),
}

/// Why a request is refused. Mirrors PostgREST 12's JWT errors (`PGRST300`–`PGRST302`); render it
/// with [`status`](Self::status), [`code`](Self::code), [`message`](Self::message),
/// [`details`](Self::details), [`hint`](Self::hint) and [`www_authenticate`](Self::www_authenticate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// `Authorization: Bearer` with nothing after it.
    #[error("Empty JWT is sent in Authorization header")]
    EmptyToken,
    /// Not three dot-separated parts.
    #[error("JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got {0})")]
    WrongParts(usize),
    /// The header or payload is not base64url JSON.
    #[error("JWT couldn't be decoded")]
    Undecodable,
    /// `alg` is missing, `none`, or unknown.
    #[error("Wrong or unsupported encoding algorithm")]
    BadAlgorithm(String),
    /// No configured key fits the token's `alg`/`kid`.
    #[error("No suitable key or wrong key type")]
    NoSuitableKey(String),
    /// The signature does not verify.
    #[error("JWT cryptographic operation failed")]
    BadSignature,
    /// `typ` is present and not `JWT`.
    #[error("Unsupported token type")]
    UnsupportedTokenType,
    /// The header has `crit`: this server understands no critical extension, so it must
    /// reject the token (RFC 7515 §4.1.11).
    #[error("JWT has unsupported critical header parameters")]
    UnsupportedCritical,
    #[error("JWT expired")]
    Expired,
    #[error("JWT not yet valid")]
    NotYetValid,
    #[error("JWT issued at future")]
    IssuedAtFuture,
    #[error("JWT not in audience")]
    NotInAudience,
    #[error("Parsing claims failed")]
    ParsingClaimsFailed,
    #[error("The JWT 'exp' claim must be a number")]
    ExpNotNumber,
    #[error("The JWT 'nbf' claim must be a number")]
    NbfNotNumber,
    #[error("The JWT 'iat' claim must be a number")]
    IatNotNumber,
    #[error("The JWT 'aud' claim must be a string or an array of strings")]
    AudNotStringOrArray,
    /// No token and no anonymous role.
    #[error("Anonymous access is disabled")]
    TokenRequired,
    /// No key is configured at all.
    #[error("Server lacks JWT secret")]
    SecretMissing,
    /// The role claim names a role the server may not switch to (as Postgres would refuse
    /// `SET ROLE`: SQLSTATE 42501).
    #[error("permission denied to set role \"{0}\"")]
    RoleNotAssumable(String),
    /// The `apikey` header is neither a valid JWT nor a configured key.
    #[error("Invalid API key")]
    InvalidApiKey,
}

impl AuthError {
    /// HTTP status: 401, except 500 for [`SecretMissing`](Self::SecretMissing) and 403 for
    /// [`RoleNotAssumable`](Self::RoleNotAssumable).
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::SecretMissing => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::RoleNotAssumable(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// PostgREST's error code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::SecretMissing => "PGRST300",
            AuthError::TokenRequired => "PGRST302",
            // PostgREST 12 answers every invalid token, expired and claim errors included,
            // with PGRST301 (PGRST303 for claim errors came with v13).
            AuthError::RoleNotAssumable(_) => "42501",
            _ => "PGRST301",
        }
    }

    /// The `message` of the error body (never contains a token or a secret).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The `details` of the error body.
    pub fn details(&self) -> Option<String> {
        match self {
            AuthError::BadAlgorithm(d) | AuthError::NoSuitableKey(d) => Some(d.clone()),
            _ => None,
        }
    }

    /// The `hint` of the error body.
    pub fn hint(&self) -> Option<String> {
        match self {
            AuthError::InvalidApiKey => {
                Some("Double check your Supabase `anon` or `service_role` API key.".to_string())
            }
            _ => None,
        }
    }

    /// The `WWW-Authenticate` response header, when the error carries one.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            AuthError::TokenRequired => Some("Bearer".to_string()),
            AuthError::SecretMissing | AuthError::RoleNotAssumable(_) => None,
            other => Some(format!(
                "Bearer error=\"invalid_token\", error_description={}",
                quote(&other.message())
            )),
        }
    }

    /// PostgREST's error body `{code, message, details, hint}`.
    pub fn body(&self) -> Value {
        serde_json::json!({
            "code": self.code(),
            "message": self.message(),
            "details": self.details(),
            "hint": self.hint(),
        })
    }
}

/// A double-quoted header string with `"` and `\` escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthContext {
    /// The database role (`set_config('role', …, true)`).
    pub role: String,
    /// The claims for `request.jwt.claims`, with `role` set to [`role`](Self::role).
    pub claims: Value,
    /// True when no JWT was presented (anonymous, or an opaque `apikey`); PostgREST then
    /// answers 42501 with 401 instead of 403.
    pub anonymous: bool,
}

impl AuthContext {
    /// The claims as JSON text, ready for `set_config('request.jwt.claims', $1, true)`.
    pub fn claims_json(&self) -> String {
        self.claims.to_string()
    }
}

/// One segment of a role claim path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathSeg {
    Key(String),
    Index(usize),
}

fn parse_claim_path(key: &str) -> Result<Vec<PathSeg>, JwtConfigError> {
    let err = |at| JwtConfigError::RoleClaimKey {
        key: key.to_string(),
        at,
    };
    let bytes = key.as_bytes();
    let mut segs = Vec::new();
    let mut i = 0;
    // A leading `$` (RFC 9535 style) is accepted.
    if bytes.first() == Some(&b'$') {
        i = 1;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                i += 1;
                if bytes.get(i) == Some(&b'"') {
                    let start = i + 1;
                    let end = key[start..].find('"').ok_or(err(i))? + start;
                    segs.push(PathSeg::Key(key[start..end].to_string()));
                    i = end + 1;
                } else {
                    let start = i;
                    while i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'[' {
                        i += 1;
                    }
                    if start == i {
                        return Err(err(start));
                    }
                    segs.push(PathSeg::Key(key[start..i].to_string()));
                }
            }
            b'[' => {
                let start = i + 1;
                let end = key[start..].find(']').ok_or(err(i))? + start;
                let n = key[start..end].trim().parse().map_err(|_| err(start))?;
                segs.push(PathSeg::Index(n));
                i = end + 1;
            }
            _ => return Err(err(i)),
        }
    }
    if segs.is_empty() {
        return Err(err(0));
    }
    Ok(segs)
}

fn walk<'a>(mut v: &'a Value, path: &[PathSeg]) -> Option<&'a Value> {
    for seg in path {
        v = match seg {
            PathSeg::Key(k) => v.as_object()?.get(k)?,
            PathSeg::Index(n) => v.as_array()?.get(*n)?,
        };
    }
    Some(v)
}

/// A verification key and what it may verify.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    family: AlgorithmFamily,
    key: DecodingKey,
}

impl Key {
    fn fits(&self, alg: Algorithm) -> bool {
        self.family == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

fn keys_from_jwks(json: &str) -> Result<Vec<Key>, JwtConfigError> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| JwtConfigError::BadJwks(e.to_string()))?;
    let jwks: Vec<Jwk> = if value.get("keys").is_some() {
        serde_json::from_value::<JwkSet>(value)
            .map_err(|e| JwtConfigError::BadJwks(e.to_string()))?
            .keys
    } else {
        vec![serde_json::from_value(value).map_err(|e| JwtConfigError::BadJwks(e.to_string()))?]
    };
    let mut keys = Vec::with_capacity(jwks.len());
    for jwk in &jwks {
        // Keys of other kinds (e.g. for encryption) are skipped, not fatal.
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| Algorithm::try_from(a).ok());
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            family: key.family(),
            key,
        });
    }
    Ok(keys)
}

fn key_from_pem(pem: &str) -> Result<Key, JwtConfigError> {
    let bytes = pem.as_bytes();
    let key = DecodingKey::from_rsa_pem(bytes)
        .or_else(|_| DecodingKey::from_ec_pem(bytes))
        .or_else(|_| DecodingKey::from_ed_pem(bytes))
        .map_err(|_| JwtConfigError::BadPem)?;
    Ok(Key {
        kid: None,
        alg: None,
        family: key.family(),
        key,
    })
}

#[derive(Default)]
struct JwksState {
    keys: Arc<Vec<Key>>,
    fetched_at: Option<Instant>,
}

struct CacheEntry {
    ctx: Arc<AuthContext>,
    /// Unix seconds after which the entry is stale (exp + leeway), if the token expires.
    valid_until: Option<f64>,
}

/// Verified tokens, bounded; first-in first-out eviction.
struct TokenCache {
    capacity: usize,
    inner: Mutex<(HashMap<String, CacheEntry>, VecDeque<String>)>,
}

/// Longest token the cache keeps (longer ones are verified every time).
const MAX_CACHED_TOKEN_LEN: usize = 8 * 1024;

impl TokenCache {
    fn get(&self, token: &str, now: f64) -> Option<Arc<AuthContext>> {
        if self.capacity == 0 {
            return None;
        }
        let mut guard = self.inner.lock().ok()?;
        let (map, _) = &mut *guard;
        let entry = map.get(token)?;
        if entry.valid_until.is_some_and(|t| now > t) {
            map.remove(token);
            return None;
        }
        Some(entry.ctx.clone())
    }

    fn put(&self, token: &str, ctx: Arc<AuthContext>, valid_until: Option<f64>) {
        if self.capacity == 0 || token.len() > MAX_CACHED_TOKEN_LEN {
            return;
        }
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        while map.len() >= self.capacity {
            match order.pop_front() {
                Some(old) => {
                    map.remove(&old);
                }
                None => {
                    map.clear();
                    break;
                }
            }
        }
        // Keep the order queue from growing without bound through removed entries.
        if order.len() > self.capacity * 2 {
            order.retain(|t| map.contains_key(t));
        }
        if map
            .insert(token.to_string(), CacheEntry { ctx, valid_until })
            .is_none()
        {
            order.push_back(token.to_string());
        }
    }

    fn len(&self) -> usize {
        self.inner.lock().map(|g| g.0.len()).unwrap_or(0)
    }
}

/// Turns request headers into an [`AuthContext`]. Cheap to share: wrap it in an `Arc`.
pub struct Authenticator {
    static_keys: Vec<Key>,
    jwks_source: Option<JwksSource>,
    jwks: RwLock<JwksState>,
    jwks_fetch: tokio::sync::Mutex<()>,
    http: Option<reqwest::Client>,
    audience: Option<String>,
    role_path: Vec<PathSeg>,
    anon_role: Option<String>,
    assumable: RoleFilter,
    api_keys: Vec<ApiKey>,
    leeway: f64,
    refetch_interval: Duration,
    cache: TokenCache,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("static_keys", &self.static_keys.len())
            .field("jwks_source", &self.jwks_source)
            .field("audience", &self.audience)
            .field("anon_role", &self.anon_role)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Base64url (padding optional) to bytes; `None` when not base64url.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    URL_SAFE_ANY_PADDING.decode(s).ok()
}

/// Equality whose running time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

impl Authenticator {
    /// Builds the authenticator. Inline and file JWKS are read now; a JWKS URL is fetched on
    /// first use (see [`refresh_jwks`](Self::refresh_jwks) to fetch it eagerly).
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        let mut static_keys = Vec::new();
        if let Some(secret) = &config.secret {
            let key = if config.secret_is_base64 {
                DecodingKey::from_base64_secret(secret)
                    .map_err(|_| JwtConfigError::SecretNotBase64)?
            } else {
                let n = secret.chars().count();
                if n < 32 {
                    return Err(JwtConfigError::ShortSecret(n));
                }
                DecodingKey::from_secret(secret.as_bytes())
            };
            static_keys.push(Key {
                kid: None,
                alg: None,
                family: AlgorithmFamily::Hmac,
                key,
            });
        }
        if let Some(pem) = &config.public_key_pem {
            static_keys.push(key_from_pem(pem)?);
        }
        let mut jwks = JwksState::default();
        let mut http = None;
        match &config.jwks {
            Some(JwksSource::Inline(json)) => {
                jwks.keys = Arc::new(keys_from_jwks(json)?);
                jwks.fetched_at = Some(Instant::now());
            }
            Some(JwksSource::File(path)) => {
                let json =
                    std::fs::read_to_string(path).map_err(|source| JwtConfigError::JwksFile {
                        path: path.clone(),
                        source,
                    })?;
                jwks.keys = Arc::new(keys_from_jwks(&json)?);
                jwks.fetched_at = Some(Instant::now());
            }
            Some(JwksSource::Url(_)) => {
                http = Some(
                    reqwest::Client::builder()
                        .timeout(config.jwks_fetch_timeout)
                        .build()
                        .map_err(|e| JwtConfigError::HttpClient(e.to_string()))?,
                );
            }
            None => {}
        }
        Ok(Authenticator {
            static_keys,
            jwks_source: config.jwks.clone(),
            jwks: RwLock::new(jwks),
            jwks_fetch: tokio::sync::Mutex::new(()),
            http,
            audience: config.audience,
            role_path: parse_claim_path(&config.role_claim_key)?,
            anon_role: config.anon_role,
            assumable: config.assumable_roles,
            api_keys: config.api_keys,
            leeway: config.leeway_secs as f64,
            refetch_interval: config.jwks_refetch_interval,
            cache: TokenCache {
                capacity: config.cache_capacity,
                inner: Mutex::new((HashMap::new(), VecDeque::new())),
            },
        })
    }

    /// Authenticates one request from its headers: `Authorization: Bearer <jwt>` (scheme
    /// case-insensitive; other schemes are ignored), else the `apikey` header (a JWT, or one of
    /// the configured opaque keys), else the anonymous role.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthContext, AuthError> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| AuthError::Undecodable)?.trim();
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                return self.verify(rest.trim()).await;
            }
        }
        if let Some(value) = headers.get("apikey") {
            let key = value.to_str().map_err(|_| AuthError::InvalidApiKey)?.trim();
            if let Some(api_key) = self
                .api_keys
                .iter()
                .find(|k| constant_time_eq(k.key.as_bytes(), key.as_bytes()))
            {
                return Ok(self.role_context(&api_key.role));
            }
            if key.split('.').count() == 3 {
                return self.verify(key).await;
            }
            return Err(AuthError::InvalidApiKey);
        }
        match &self.anon_role {
            Some(role) => Ok(self.role_context(role)),
            None => Err(AuthError::TokenRequired),
        }
    }

    fn role_context(&self, role: &str) -> AuthContext {
        AuthContext {
            role: role.to_string(),
            claims: serde_json::json!({ "role": role }),
            anonymous: true,
        }
    }

    /// Verifies one token (the part after `Bearer `) and derives its role and claims.
    pub async fn verify(&self, token: &str) -> Result<AuthContext, AuthError> {
        if token.is_empty() {
            return Err(AuthError::EmptyToken);
        }
        let now = now_secs();
        if let Some(ctx) = self.cache.get(token, now) {
            return Ok((*ctx).clone());
        }
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(AuthError::WrongParts(parts.len()));
        }
        let header: Value = b64url_decode(parts[0])
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AuthError::Undecodable)?;
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let alg: Algorithm = alg_name
            .parse()
            .map_err(|_| AuthError::BadAlgorithm(format!("Unsupported algorithm {alg_name:?}")))?;
        if let Some(typ) = header.get("typ")
            && !typ
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err(AuthError::UnsupportedTokenType);
        }
        if header.get("crit").is_some() {
            return Err(AuthError::UnsupportedCritical);
        }
        let kid = header.get("kid").and_then(Value::as_str);
        self.verify_signature(
            parts[0].len() + 1 + parts[1].len(),
            token,
            parts[2],
            alg,
            kid,
        )
        .await?;
        let claims: Value = b64url_decode(parts[1])
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AuthError::Undecodable)?;
        let Value::Object(claims) = claims else {
            return Err(AuthError::ParsingClaimsFailed);
        };
        let valid_until = self.validate_claims(&claims, now)?;
        let ctx = Arc::new(self.context_from_claims(claims)?);
        self.cache.put(token, ctx.clone(), valid_until);
        Ok((*ctx).clone())
    }

    async fn verify_signature(
        &self,
        message_len: usize,
        token: &str,
        signature: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<(), AuthError> {
        let message = &token.as_bytes()[..message_len];
        let mut refetched = false;
        loop {
            let jwks = self.jwks.read().map(|s| s.keys.clone()).unwrap_or_default();
            let candidates: Vec<&Key> = self
                .static_keys
                .iter()
                .chain(jwks.iter())
                .filter(|k| k.fits(alg))
                .filter(|k| match (kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                })
                .collect();
            let kid_known = kid.is_none_or(|want| {
                self.static_keys.iter().any(|k| k.fits(alg))
                    || jwks.iter().any(|k| k.kid.as_deref() == Some(want))
            });
            if (candidates.is_empty() || !kid_known) && !refetched && self.can_refetch() {
                refetched = true;
                // A failed fetch leaves the old keys; the token is then judged with them.
                let _ = self.refetch_jwks(false).await;
                continue;
            }
            if candidates.is_empty() {
                if self.static_keys.is_empty() && jwks.is_empty() && self.jwks_source.is_none() {
                    return Err(AuthError::SecretMissing);
                }
                return Err(AuthError::NoSuitableKey(match kid {
                    Some(kid) => format!("No key with kid {kid:?} for algorithm {alg:?}"),
                    None => format!("No key for algorithm {alg:?}"),
                }));
            }
            for key in candidates {
                if let Ok(true) = jsonwebtoken::crypto::verify(signature, message, &key.key, alg) {
                    return Ok(());
                }
            }
            return Err(AuthError::BadSignature);
        }
    }

    fn can_refetch(&self) -> bool {
        matches!(
            self.jwks_source,
            Some(JwksSource::Url(_) | JwksSource::File(_))
        ) && self.jwks.read().is_ok_and(|s| {
            s.fetched_at
                .is_none_or(|t| t.elapsed() >= self.refetch_interval)
        })
    }

    /// Fetches (URL) or re-reads (file) the JWKS now and replaces the keys; returns how many
    /// keys it holds. Concurrent callers wait for one fetch.
    pub async fn refresh_jwks(&self) -> Result<usize, JwtConfigError> {
        self.refetch_jwks(true).await
    }

    async fn refetch_jwks(&self, force: bool) -> Result<usize, JwtConfigError> {
        let started = Instant::now();
        let _guard = self.jwks_fetch.lock().await;
        // Someone else fetched while we waited.
        if !force
            && self
                .jwks
                .read()
                .is_ok_and(|s| s.fetched_at.is_some_and(|t| t >= started))
        {
            return Ok(self.jwks.read().map(|s| s.keys.len()).unwrap_or(0));
        }
        let result = match &self.jwks_source {
            Some(JwksSource::Url(url)) => match &self.http {
                Some(client) => fetch_jwks(client, url).await,
                None => Err(JwtConfigError::HttpClient("no client".to_string())),
            },
            Some(JwksSource::File(path)) => {
                std::fs::read_to_string(path).map_err(|source| JwtConfigError::JwksFile {
                    path: path.clone(),
                    source,
                })
            }
            Some(JwksSource::Inline(json)) => Ok(json.clone()),
            None => Ok(r#"{"keys":[]}"#.to_string()),
        };
        let mut state = self
            .jwks
            .write()
            .map_err(|_| JwtConfigError::BadJwks("lock poisoned".to_string()))?;
        state.fetched_at = Some(Instant::now());
        let keys = keys_from_jwks(&result.inspect_err(|e| {
            tracing::warn!(error = %e, "could not refresh the JWKS; keeping the previous keys");
        })?)?;
        let n = keys.len();
        state.keys = Arc::new(keys);
        Ok(n)
    }

    /// Checks exp/nbf/iat/aud; returns until when a cached verdict stays valid.
    fn validate_claims(
        &self,
        claims: &Map<String, Value>,
        now: f64,
    ) -> Result<Option<f64>, AuthError> {
        let number = |name: &str, err: AuthError| -> Result<Option<f64>, AuthError> {
            match claims.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(err),
                Some(_) => Err(err),
            }
        };
        let exp = number("exp", AuthError::ExpNotNumber)?;
        let nbf = number("nbf", AuthError::NbfNotNumber)?;
        let iat = number("iat", AuthError::IatNotNumber)?;
        if exp.is_some_and(|exp| now > exp + self.leeway) {
            return Err(AuthError::Expired);
        }
        if nbf.is_some_and(|nbf| now + self.leeway < nbf) {
            return Err(AuthError::NotYetValid);
        }
        if iat.is_some_and(|iat| now + self.leeway < iat) {
            return Err(AuthError::IssuedAtFuture);
        }
        if let Some(aud) = claims.get("aud") {
            let auds: Vec<&str> = match aud {
                Value::Null => Vec::new(),
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().ok_or(AuthError::AudNotStringOrArray))
                    .collect::<Result<_, _>>()?,
                _ => return Err(AuthError::AudNotStringOrArray),
            };
            if let Some(want) = &self.audience
                && !auds.is_empty()
                && !auds.iter().any(|a| a == want)
            {
                return Err(AuthError::NotInAudience);
            }
        }
        // A token not yet valid is never cached (it failed above), so only exp bounds it.
        Ok(exp.map(|e| e + self.leeway))
    }

    fn context_from_claims(
        &self,
        mut claims: Map<String, Value>,
    ) -> Result<AuthContext, AuthError> {
        let as_object = Value::Object(claims);
        let role = match walk(&as_object, &self.role_path) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let Value::Object(map) = as_object else {
            return Err(AuthError::ParsingClaimsFailed);
        };
        claims = map;
        let role = match role {
            Some(role) => {
                if role.is_empty() || !self.assumable.allows(&role) {
                    return Err(AuthError::RoleNotAssumable(role));
                }
                role
            }
            None => self.anon_role.clone().ok_or(AuthError::TokenRequired)?,
        };
        claims.insert("role".to_string(), Value::String(role.clone()));
        Ok(AuthContext {
            role,
            claims: Value::Object(claims),
            anonymous: false,
        })
    }

    /// How many verified tokens the cache holds now.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}

async fn fetch_jwks(client: &reqwest::Client, url: &str) -> Result<String, JwtConfigError> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| JwtConfigError::BadJwks(format!("fetching {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(JwtConfigError::BadJwks(format!(
            "fetching {url}: HTTP {}",
            resp.status()
        )));
    }
    resp.text()
        .await
        .map_err(|e| JwtConfigError::BadJwks(format!("reading {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_paths_parse() {
        assert_eq!(
            parse_claim_path(".role").unwrap(),
            vec![PathSeg::Key("role".into())]
        );
        assert_eq!(
            parse_claim_path(".app_metadata.role").unwrap(),
            vec![
                PathSeg::Key("app_metadata".into()),
                PathSeg::Key("role".into())
            ]
        );
        assert_eq!(
            parse_claim_path(".\"https://x.io/role\".a[2]").unwrap(),
            vec![
                PathSeg::Key("https://x.io/role".into()),
                PathSeg::Key("a".into()),
                PathSeg::Index(2)
            ]
        );
        assert!(parse_claim_path("role").is_err());
        assert!(parse_claim_path(".").is_err());
        assert!(parse_claim_path(".a[x]").is_err());
    }

    #[test]
    fn base64url_decodes() {
        assert_eq!(b64url_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(b64url_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64url_decode("").unwrap(), b"");
        assert_eq!(b64url_decode("_-8").unwrap(), vec![0xff, 0xef]);
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("a!b=").is_none());
    }

    #[test]
    fn www_authenticate_quotes_the_message() {
        assert_eq!(
            AuthError::Expired.www_authenticate().unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"JWT expired\""
        );
        assert_eq!(
            AuthError::TokenRequired.www_authenticate().unwrap(),
            "Bearer"
        );
        // PostgREST 12: PGRST301 (v13 says PGRST303).
        assert_eq!(AuthError::Expired.code(), "PGRST301");
        assert_eq!(AuthError::BadSignature.code(), "PGRST301");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
