//! Who a tool call runs as: nobody in particular (the server's own database login), an API role,
//! or an end user. A user's claims are built the way pgbase's auth issues them (sub, role, aud,
//! email, phone, app/user metadata from `auth.users`), and the result is the same
//! [`pgbase_db::RequestContext`] REST and GraphQL apply, so RLS sees exactly what that user's API
//! request would. Also signs a JWT for those claims when a tool calls the HTTP API.

use serde_json::{Value, json};
use tokio_postgres::Client;

/// Why a subject could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(
        "role {0:?} is not one an API request can switch to (anon, authenticated, service_role, or a role granted to authenticator)"
    )]
    Role(String),
    #[error("user_id {0:?} is not a UUID")]
    UserId(String),
    #[error("claims must be a JSON object")]
    Claims,
    #[error("reading the user or role failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

/// Whom to run as, as a tool's arguments give it.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub role: Option<String>,
    pub user_id: Option<String>,
    pub claims: Option<Value>,
}

impl Subject {
    /// A subject from one word: a UUID is a user, anything else a role.
    pub fn from_word(word: &str) -> Subject {
        if uuid::Uuid::parse_str(word).is_ok() {
            Subject {
                user_id: Some(word.to_string()),
                ..Subject::default()
            }
        } else {
            Subject {
                role: Some(word.to_string()),
                ..Subject::default()
            }
        }
    }

    pub fn is_none(&self) -> bool {
        self.role.is_none() && self.user_id.is_none() && self.claims.is_none()
    }

    /// A short label: `user <uuid>`, `role anon`.
    pub fn label(&self) -> String {
        match (&self.user_id, &self.role, &self.claims) {
            (Some(user), _, _) => format!("user {user}"),
            (None, _, Some(claims)) => format!(
                "claims sub={}",
                claims.get("sub").and_then(Value::as_str).unwrap_or("-")
            ),
            (None, Some(role), None) => format!("role {role}"),
            (None, None, None) => "database login".to_string(),
        }
    }
}

/// The role and claims a subject resolves to.
#[derive(Debug, Clone)]
pub struct Identity {
    pub role: String,
    pub claims: Value,
}

/// Resolves `subject` (None when it names nobody: run as the login).
pub async fn resolve(client: &Client, subject: &Subject) -> Result<Option<Identity>, ContextError> {
    if subject.is_none() {
        return Ok(None);
    }
    let mut claims = match (&subject.claims, &subject.user_id) {
        (Some(Value::Object(map)), _) => Value::Object(map.clone()),
        (Some(_), _) => return Err(ContextError::Claims),
        (None, Some(user_id)) => user_claims(client, user_id).await?,
        (None, None) => json!({}),
    };
    let role = subject
        .role
        .clone()
        .or_else(|| {
            claims
                .get("role")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "anon".to_string());
    let allowed: bool = client
        .query_one(
            "select case when not exists (select 1 from pg_roles where rolname = $1) then false \
                         when $1 in ('anon', 'authenticated', 'service_role') then true \
                         when not exists (select 1 from pg_roles where rolname = 'authenticator') then false \
                         else pg_has_role('authenticator', $1, 'member') end",
            &[&role],
        )
        .await?
        .get(0);
    if !allowed {
        return Err(ContextError::Role(role));
    }
    if let Value::Object(map) = &mut claims {
        map.insert("role".into(), Value::String(role.clone()));
    }
    Ok(Some(Identity { role, claims }))
}

/// The claims pgbase's auth would put in this user's access token.
async fn user_claims(client: &Client, user_id: &str) -> Result<Value, ContextError> {
    let id = uuid::Uuid::parse_str(user_id).map_err(|_| ContextError::UserId(user_id.into()))?;
    let row = client
        .query_opt(
            "select coalesce(email, ''), coalesce(phone, ''), coalesce(raw_app_meta_data, '{}'), \
                    coalesce(raw_user_meta_data, '{}'), coalesce(nullif(role, ''), 'authenticated'), is_anonymous \
               from auth.users where id = $1",
            &[&id],
        )
        .await;
    // A database without auth.users (or a user not created yet) still gets the basic claims.
    let row = row.ok().flatten();
    let now = chrono::Utc::now().timestamp();
    Ok(match row {
        Some(row) => json!({
            "sub": user_id, "aud": "authenticated", "iat": now, "exp": now + 3600,
            "email": row.get::<_, String>(0), "phone": row.get::<_, String>(1),
            "app_metadata": row.get::<_, Value>(2), "user_metadata": row.get::<_, Value>(3),
            "role": row.get::<_, String>(4), "aal": "aal1", "is_anonymous": row.get::<_, bool>(5),
        }),
        None => json!({
            "sub": user_id, "aud": "authenticated", "iat": now, "exp": now + 3600,
            "role": "authenticated", "aal": "aal1", "is_anonymous": false,
        }),
    })
}

/// The request context for `identity`: search path over the exposed schemas, then the role's
/// own settings, then the tool's statement timeout, role, claims.
pub async fn request_context(
    client: &Client,
    identity: &Identity,
    schemas: &[String],
    statement_timeout_ms: u64,
) -> Result<pgbase_db::RequestContext, ContextError> {
    let role_settings = client
        .query(
            "select split_part(s, '=', 1), substr(s, strpos(s, '=') + 1) \
               from pg_db_role_setting d, unnest(d.setconfig) s \
              where d.setrole = (select oid from pg_roles where rolname = $1) \
                and d.setdatabase in (0, (select oid from pg_database where datname = current_database())) \
              order by d.setdatabase",
            &[&identity.role],
        )
        .await?;
    let mut settings: Vec<(String, String)> = role_settings
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    settings.push((
        "statement_timeout".to_string(),
        format!("{statement_timeout_ms}ms"),
    ));
    let mut path: Vec<String> = schemas.iter().map(|s| pgbase_sql::quote_ident(s)).collect();
    if !schemas.iter().any(|s| s == "public") {
        path.push("\"public\"".to_string());
    }
    Ok(pgbase_db::RequestContext {
        search_path: path.join(", "),
        role: identity.role.clone(),
        claims: identity.claims.to_string(),
        method: "POST".to_string(),
        path: "/mcp".to_string(),
        headers: "{}".to_string(),
        cookies: "{}".to_string(),
        ..Default::default()
    }
    .with_settings(settings.iter().map(|(n, v)| (n.as_str(), v.as_str()))))
}

/// An HS256 token for `claims` (an hour long), as auth would issue it.
pub fn sign(secret: &str, claims: &Value) -> Result<String, ContextError> {
    let mut claims = claims.clone();
    let now = chrono::Utc::now().timestamp();
    if let Value::Object(map) = &mut claims {
        map.insert("iat".into(), now.into());
        map.insert("exp".into(), (now + 3600).into());
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| ContextError::Sign(e.to_string()))
}
