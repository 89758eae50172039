//! Project keys: the JWT secret `pgbase dev` generates once per project folder, and the anon
//! and service_role API keys (long-lived HS256 JWTs, as Supabase issues them) signed with it.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read or write the JWT secret at {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the system's random source failed: {0}")]
    Random(String),
    #[error("cannot sign an API key: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

#[derive(Serialize)]
struct ApiKeyClaims<'a> {
    iss: &'a str,
    role: &'a str,
    iat: i64,
    exp: i64,
}

/// The two keys every client of a project uses.
pub struct ApiKeys {
    pub anon: String,
    pub service_role: String,
}

/// Signs the anon and service_role keys (valid for ten years, like Supabase's).
pub fn api_keys(secret: &str) -> Result<ApiKeys, KeysError> {
    let sign = |role: &str| -> Result<String, KeysError> {
        let iat = chrono::Utc::now().timestamp();
        let claims = ApiKeyClaims {
            iss: "pgbase",
            role,
            iat,
            exp: iat + 10 * 365 * 24 * 3600,
        };
        Ok(jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )?)
    };
    Ok(ApiKeys {
        anon: sign("anon")?,
        service_role: sign("service_role")?,
    })
}

/// Reads `path`, or creates it with a new random 64-hex-character secret (mode 0600).
pub fn load_or_create_secret(path: &Path) -> Result<String, KeysError> {
    let io = |source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(secret) => return Ok(secret.trim().to_string()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| KeysError::Random(e.to_string()))?;
    let secret = hex::encode(bytes);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(secret.as_bytes()))
        .map_err(io)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_created_once_and_keys_carry_their_role()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".pgbase/jwt_secret");
        let first = load_or_create_secret(&path)?;
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create_secret(&path)?, first);

        let keys = api_keys(&first)?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &keys.service_role,
            &jsonwebtoken::DecodingKey::from_secret(first.as_bytes()),
            &validation,
        )?;
        assert_eq!(decoded.claims["role"], "service_role");
        let wrong = jsonwebtoken::decode::<serde_json::Value>(
            &keys.anon,
            &jsonwebtoken::DecodingKey::from_secret(b"another secret of enough length!!"),
            &validation,
        );
        assert!(wrong.is_err());
        Ok(())
    }
}
