//! The admin users API (`/admin/users`, `/admin/users/{id}`): list, create, get, update and
//! delete users. Only tokens whose role is one of `admin_roles` (service_role) may call it.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::GoTrueError;
use super::handlers::{check_password, normalize_email, parse_body, release};
use super::store::{self, NewUser, UserUpdate};
use super::{AuthState, bearer};

async fn require_admin(state: &AuthState, headers: &HeaderMap) -> Result<(), GoTrueError> {
    let ctx = bearer(state, headers).await?;
    if state.inner.config.admin_roles.contains(&ctx.role) {
        Ok(())
    } else {
        Err(GoTrueError::NotAdmin)
    }
}

fn parse_id(id: &str) -> Result<Uuid, GoTrueError> {
    Uuid::parse_str(id).map_err(|_| GoTrueError::Validation("user_id must be an UUID".to_string()))
}

/// A Go-style duration (`24h`, `1h30m`, `90s`, `876000h`), or `none` (no ban).
fn parse_ban_duration(text: &str) -> Result<Option<Duration>, GoTrueError> {
    let bad = || GoTrueError::Validation("invalid format for ban duration".to_string());
    if text == "none" {
        return Ok(None);
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += value
            * match unit.as_str() {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return Err(bad()),
            };
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(bad());
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

fn ban_until(
    text: &Option<String>,
) -> Result<Option<Option<chrono::DateTime<chrono::Utc>>>, GoTrueError> {
    let Some(text) = text else {
        return Ok(None);
    };
    Ok(Some(match parse_ban_duration(text)? {
        None => None,
        Some(d) => Some(
            chrono::Utc::now()
                + chrono::Duration::from_std(d).map_err(|_| {
                    GoTrueError::Validation("invalid format for ban duration".to_string())
                })?,
        ),
    }))
}

/// `GET /admin/users?page=&per_page=` → `{users, aud}` with `x-total-count` and `link`.
pub(crate) async fn list_users(
    State(state): State<AuthState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, GoTrueError> {
    require_admin(&state, &headers).await?;
    let number = |key: &str, default: i64| -> Result<i64, GoTrueError> {
        // supabase-js sends `page=&per_page=` when no page is asked for.
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                GoTrueError::Validation(format!("Bad Pagination Parameters: {key}"))
            }),
        }
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", 50)?.min(1000);
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        let (users, total) = store::list_users(&tx, page, per_page).await?;
        tx.commit().await?;
        Ok((users, total))
    }
    .await;
    let (users, total) = release(&client, result).await?;
    drop(client);
    let mut resp =
        Json(json!({ "users": users, "aud": state.inner.config.jwt_aud })).into_response();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        resp.headers_mut().insert("x-total-count", v);
    }
    let last = ((total + per_page - 1) / per_page).max(1);
    let mut links = Vec::new();
    if page < last {
        links.push(format!(
            "</admin/users?page={}&per_page={per_page}>; rel=\"next\"",
            page + 1
        ));
    }
    links.push(format!(
        "</admin/users?page={last}&per_page={per_page}>; rel=\"last\""
    ));
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        resp.headers_mut().insert(http::header::LINK, v);
    }
    Ok(resp)
}

#[derive(Deserialize, Default)]
struct AdminUserBody {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    email_confirm: Option<bool>,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
    role: Option<String>,
    ban_duration: Option<String>,
}

fn object_or_empty(v: Option<Value>) -> Result<Value, GoTrueError> {
    match v {
        None | Some(Value::Null) => Ok(json!({})),
        Some(Value::Object(m)) => Ok(Value::Object(m)),
        Some(_) => Err(GoTrueError::Validation(
            "metadata must be a JSON object".to_string(),
        )),
    }
}

/// `POST /admin/users`.
pub(crate) async fn create_user(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GoTrueError> {
    require_admin(&state, &headers).await?;
    let config = &state.inner.config;
    let body: AdminUserBody = parse_body(&body)?;
    if body.phone.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(GoTrueError::PhoneProviderDisabled);
    }
    let email = normalize_email(body.email.as_deref().ok_or_else(|| {
        GoTrueError::Validation("Unable to validate email address: invalid format".to_string())
    })?)?;
    let hash = match body.password.as_deref().filter(|p| !p.is_empty()) {
        Some(password) => {
            check_password(config, password)?;
            Some(
                state
                    .inner
                    .hasher
                    .hash(password, config.bcrypt_cost)
                    .await?,
            )
        }
        None => None,
    };
    let mut app_metadata = json!({ "provider": "email", "providers": ["email"] });
    if let (Value::Object(base), Value::Object(extra)) =
        (&mut app_metadata, object_or_empty(body.app_metadata)?)
    {
        base.extend(extra);
    }
    let user_metadata = object_or_empty(body.user_metadata)?;
    let banned_until = ban_until(&body.ban_duration)?.flatten();
    let role = body.role.unwrap_or_else(|| config.default_role.clone());
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        if store::email_taken(&tx, &email, None).await? {
            return Err(GoTrueError::EmailExists);
        }
        let id = store::insert_user(
            &tx,
            &NewUser {
                email: &email,
                password_hash: hash.as_deref(),
                role: &role,
                aud: &config.jwt_aud,
                confirmed: body.email_confirm.unwrap_or(false),
                app_metadata: &app_metadata,
                user_metadata: &user_metadata,
                banned_until,
            },
        )
        .await?;
        let user = store::user_json(&tx, id)
            .await?
            .ok_or(GoTrueError::UserNotFound)?;
        tx.commit().await?;
        Ok(user)
    }
    .await;
    let user = release(&client, result).await?;
    drop(client);
    Ok(Json(user))
}

/// `GET /admin/users/{id}`.
pub(crate) async fn get_user(
    State(state): State<AuthState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, GoTrueError> {
    require_admin(&state, &headers).await?;
    let id = parse_id(&id)?;
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        let user = store::user_json(&tx, id)
            .await?
            .ok_or(GoTrueError::UserNotFound)?;
        tx.commit().await?;
        Ok(user)
    }
    .await;
    let user = release(&client, result).await?;
    drop(client);
    Ok(Json(user))
}

/// `PUT /admin/users/{id}`.
pub(crate) async fn update_user(
    State(state): State<AuthState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GoTrueError> {
    require_admin(&state, &headers).await?;
    let config = &state.inner.config;
    let id = parse_id(&id)?;
    let body: AdminUserBody = parse_body(&body)?;
    let mut update = UserUpdate::default();
    if let Some(password) = body.password.as_deref().filter(|p| !p.is_empty()) {
        check_password(config, password)?;
        update.password_hash = Some(
            state
                .inner
                .hasher
                .hash(password, config.bcrypt_cost)
                .await?,
        );
    }
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        if store::credentials_by_id(&*tx, id).await?.is_none() {
            return Err(GoTrueError::UserNotFound);
        }
        if let Some(email) = body.email.as_deref().filter(|e| !e.trim().is_empty()) {
            let email = normalize_email(email)?;
            if store::email_taken(&tx, &email, Some(id)).await? {
                return Err(GoTrueError::EmailExists);
            }
            update.email = Some(email);
        }
        update.confirm_email = body.email_confirm.unwrap_or(false);
        if body.user_metadata.is_some() {
            update.user_metadata = Some(object_or_empty(body.user_metadata)?);
        }
        if body.app_metadata.is_some() {
            update.app_metadata = Some(object_or_empty(body.app_metadata)?);
        }
        update.role = body.role;
        update.banned_until = ban_until(&body.ban_duration)?;
        let banned = update.banned_until.flatten().is_some();
        store::update_user(&tx, id, &update).await?;
        if banned {
            store::delete_sessions(&tx, id, None, None).await?;
        }
        let user = store::user_json(&tx, id)
            .await?
            .ok_or(GoTrueError::UserNotFound)?;
        tx.commit().await?;
        Ok(user)
    }
    .await;
    let user = release(&client, result).await?;
    drop(client);
    Ok(Json(user))
}

#[derive(Deserialize, Default)]
struct DeleteBody {
    should_soft_delete: Option<bool>,
}

/// `DELETE /admin/users/{id}` → `{}`.
pub(crate) async fn delete_user(
    State(state): State<AuthState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GoTrueError> {
    require_admin(&state, &headers).await?;
    let id = parse_id(&id)?;
    let body: DeleteBody = parse_body(&body)?;
    let mut client = state.inner.pool.get().await?;
    let result = async {
        let tx = client.transaction().await?;
        if !store::delete_user(&tx, id, body.should_soft_delete.unwrap_or(false)).await? {
            return Err(GoTrueError::UserNotFound);
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    release(&client, result).await?;
    drop(client);
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_durations_parse_like_go() {
        assert_eq!(parse_ban_duration("none").unwrap(), None);
        assert_eq!(
            parse_ban_duration("24h").unwrap(),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_ban_duration("1h30m").unwrap(),
            Some(Duration::from_secs(5_400))
        );
        assert!(parse_ban_duration("").is_err());
        assert!(parse_ban_duration("10").is_err());
        assert!(parse_ban_duration("3d").is_err());
    }
}
