//! Tokens GoTrue hands out: access tokens (HS256 JWTs with upstream's claims) and opaque
//! refresh tokens (random `[a-z0-9]` strings, stored in `auth.refresh_tokens`), plus the
//! session JSON supabase-js reads.

use serde_json::{Value, json};

use super::AuthConfig;
use super::error::GoTrueError;

/// Length of a refresh token: 32 characters of `[a-z0-9]` (about 165 bits).
const REFRESH_TOKEN_LEN: usize = 32;

/// A new random refresh token.
pub fn new_refresh_token() -> Result<String, GoTrueError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(REFRESH_TOKEN_LEN);
    let mut buf = [0u8; 64];
    while out.len() < REFRESH_TOKEN_LEN {
        getrandom::fill(&mut buf).map_err(|e| GoTrueError::Internal(format!("random: {e}")))?;
        for b in buf {
            // 252 = 7 * 36: rejecting the rest keeps the characters uniform.
            if b < 252 && out.len() < REFRESH_TOKEN_LEN {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// What an access token is issued for.
pub struct Grant<'a> {
    /// The user JSON (as returned to clients).
    pub user: &'a Value,
    pub session_id: &'a str,
    /// Unix seconds of the authentication (`amr[0].timestamp`).
    pub authenticated_at: i64,
    /// `password`, …
    pub method: &'a str,
}

/// Signs an access token for `grant`; returns the token and its `exp`.
pub fn access_token(config: &AuthConfig, grant: &Grant<'_>) -> Result<(String, i64), GoTrueError> {
    let now = chrono::Utc::now().timestamp();
    let exp = now.saturating_add(i64::try_from(config.jwt_exp_secs).unwrap_or(i64::MAX));
    let user = grant.user;
    let claims = json!({
        "iss": config.jwt_issuer,
        "sub": user["id"],
        "aud": config.jwt_aud,
        "exp": exp,
        "iat": now,
        "email": user.get("email").cloned().unwrap_or(Value::String(String::new())),
        "phone": user.get("phone").cloned().unwrap_or(Value::String(String::new())),
        "app_metadata": user.get("app_metadata").cloned().unwrap_or_else(|| json!({})),
        "user_metadata": user.get("user_metadata").cloned().unwrap_or_else(|| json!({})),
        "role": user.get("role").and_then(Value::as_str).filter(|r| !r.is_empty())
            .unwrap_or(&config.default_role),
        "aal": "aal1",
        "amr": [{ "method": grant.method, "timestamp": grant.authenticated_at }],
        "session_id": grant.session_id,
        "is_anonymous": user.get("is_anonymous").cloned().unwrap_or(Value::Bool(false)),
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(config.jwt_secret.as_bytes()),
    )
    .map_err(|e| GoTrueError::Internal(format!("signing an access token: {e}")))?;
    Ok((token, exp))
}

/// The session response (`tokens.AccessTokenResponse`).
pub fn session_json(
    config: &AuthConfig,
    grant: &Grant<'_>,
    refresh_token: &str,
) -> Result<Value, GoTrueError> {
    let (access_token, expires_at) = access_token(config, grant)?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": config.jwt_exp_secs,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": grant.user,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_well_formed() {
        let a = new_refresh_token().unwrap();
        let b = new_refresh_token().unwrap();
        assert_eq!(a.len(), REFRESH_TOKEN_LEN);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
