//! The SQL of the auth API, over `auth.users`, `auth.identities`, `auth.sessions` and
//! `auth.refresh_tokens`. Every value is a bind parameter; the user JSON is built by Postgres.

use std::net::IpAddr;

use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use super::error::GoTrueError;

/// The user JSON (`models.User`) of the row aliased `u`.
const USER_JSON: &str = "json_build_object(
  'id', u.id,
  'aud', coalesce(u.aud, ''),
  'role', coalesce(u.role, ''),
  'email', coalesce(u.email, ''),
  'email_confirmed_at', u.email_confirmed_at,
  'phone', coalesce(u.phone, ''),
  'phone_confirmed_at', u.phone_confirmed_at,
  'confirmation_sent_at', u.confirmation_sent_at,
  'confirmed_at', u.confirmed_at,
  'recovery_sent_at', u.recovery_sent_at,
  'new_email', nullif(u.email_change, ''),
  'email_change_sent_at', u.email_change_sent_at,
  'last_sign_in_at', u.last_sign_in_at,
  'app_metadata', coalesce(u.raw_app_meta_data, '{}'::jsonb),
  'user_metadata', coalesce(u.raw_user_meta_data, '{}'::jsonb),
  'identities', coalesce((
    select json_agg(json_build_object(
      'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id,
      'identity_data', i.identity_data, 'provider', i.provider,
      'last_sign_in_at', i.last_sign_in_at, 'created_at', i.created_at,
      'updated_at', i.updated_at, 'email', i.email) order by i.created_at)
    from auth.identities i where i.user_id = u.id), '[]'::json),
  'created_at', u.created_at,
  'updated_at', u.updated_at,
  'banned_until', u.banned_until,
  'is_anonymous', u.is_anonymous)";

/// Keys upstream leaves out of the user JSON when they are null (`omitempty`).
const OMIT_WHEN_NULL: &[&str] = &[
    "email_confirmed_at",
    "phone_confirmed_at",
    "confirmation_sent_at",
    "confirmed_at",
    "recovery_sent_at",
    "new_email",
    "email_change_sent_at",
    "last_sign_in_at",
    "banned_until",
];

fn tidy(mut user: Value) -> Value {
    if let Value::Object(map) = &mut user {
        for key in OMIT_WHEN_NULL {
            if map.get(*key).is_some_and(Value::is_null) {
                map.remove(*key);
            }
        }
    }
    user
}

/// One user's JSON, if the user exists (and is not soft-deleted).
pub async fn user_json(tx: &Transaction<'_>, id: Uuid) -> Result<Option<Value>, GoTrueError> {
    let sql = format!(
        "select {USER_JSON}::jsonb from auth.users u where u.id = $1 and u.deleted_at is null"
    );
    Ok(tx
        .query_opt(&sql, &[&id])
        .await?
        .map(|row| tidy(row.get::<_, Value>(0))))
}

/// What a password sign-in needs to know about a user.
pub struct Credentials {
    pub id: Uuid,
    pub encrypted_password: String,
    pub confirmed: bool,
    pub banned: bool,
}

/// The user with this (lower-cased) email (one statement: no transaction needed).
pub async fn credentials_by_email(
    db: &impl GenericClient,
    email: &str,
) -> Result<Option<Credentials>, GoTrueError> {
    let row = db
        .query_opt(
            "select u.id, coalesce(u.encrypted_password, ''),
                    u.email_confirmed_at is not null,
                    coalesce(u.banned_until > now(), false)
             from auth.users u
             where lower(u.email) = $1 and u.is_sso_user = false and u.deleted_at is null",
            &[&email],
        )
        .await?;
    Ok(row.map(|r| Credentials {
        id: r.get(0),
        encrypted_password: r.get(1),
        confirmed: r.get(2),
        banned: r.get(3),
    }))
}

/// The user's current password hash and ban state.
pub async fn credentials_by_id(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Credentials>, GoTrueError> {
    let row = db
        .query_opt(
            "select u.id, coalesce(u.encrypted_password, ''),
                    u.email_confirmed_at is not null,
                    coalesce(u.banned_until > now(), false)
             from auth.users u where u.id = $1 and u.deleted_at is null",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| Credentials {
        id: r.get(0),
        encrypted_password: r.get(1),
        confirmed: r.get(2),
        banned: r.get(3),
    }))
}

/// Whether another user already has this email.
pub async fn email_taken(
    tx: &Transaction<'_>,
    email: &str,
    except: Option<Uuid>,
) -> Result<bool, GoTrueError> {
    Ok(tx
        .query_one(
            "select exists(select from auth.users
               where lower(email) = $1 and is_sso_user = false and id is distinct from $2)",
            &[&email, &except],
        )
        .await?
        .get(0))
}

/// A new user to insert.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: &'a str,
    pub aud: &'a str,
    pub confirmed: bool,
    pub app_metadata: &'a Value,
    pub user_metadata: &'a Value,
    pub banned_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Inserts a user and its email identity; returns the new id. A duplicate email is
/// [`GoTrueError::EmailExists`].
pub async fn insert_user(tx: &Transaction<'_>, user: &NewUser<'_>) -> Result<Uuid, GoTrueError> {
    let row = tx
        .query_one(
            "insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
                email_confirmed_at, confirmation_sent_at, raw_app_meta_data, raw_user_meta_data,
                banned_until, created_at, updated_at)
             values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), $1, $2, $3, $4,
                case when $5 then now() end, case when not $5 then now() end, $6, $7, $8, now(), now())
             on conflict do nothing
             returning id",
            &[
                &user.aud,
                &user.role,
                &user.email,
                &user.password_hash,
                &user.confirmed,
                &user.app_metadata,
                &user.user_metadata,
                &user.banned_until,
            ],
        )
        .await;
    let id: Uuid = match row {
        Ok(row) => row.get(0),
        // `on conflict do nothing` returns no row for a duplicate: query_one's error.
        Err(e) if e.as_db_error().is_none() => return Err(GoTrueError::EmailExists),
        Err(e) => return Err(e.into()),
    };
    tx.execute(
        "insert into auth.identities (provider_id, user_id, identity_data, provider,
            last_sign_in_at, created_at, updated_at)
         values ($1::uuid::text, $1, jsonb_build_object('sub', $1::uuid::text, 'email', $2::text,
            'email_verified', $3::bool, 'phone_verified', false), 'email', now(), now(), now())",
        &[&id, &user.email, &user.confirmed],
    )
    .await?;
    // The identity's fields also show in user_metadata, as upstream.
    tx.execute(
        "update auth.users set raw_user_meta_data =
            jsonb_build_object('sub', id::text, 'email', email, 'email_verified', $2::bool,
                               'phone_verified', false) || coalesce(raw_user_meta_data, '{}'::jsonb)
         where id = $1",
        &[&id, &user.confirmed],
    )
    .await?;
    Ok(id)
}

/// A new session for `user_id`, with its first refresh token; returns the session id and the
/// session's start (unix seconds). `None` when the user no longer exists, is banned, or — with
/// `password_hash` — no longer has that password hash (it changed since it was verified, which
/// happens outside this transaction).
pub async fn create_session(
    tx: &Transaction<'_>,
    user_id: Uuid,
    refresh_token: &str,
    user_agent: Option<&str>,
    ip: Option<IpAddr>,
    password_hash: Option<&str>,
) -> Result<Option<(Uuid, i64)>, GoTrueError> {
    let row = tx
        .query_opt(
            "with u as (
               select id from auth.users
               where id = $1 and deleted_at is null and not coalesce(banned_until > now(), false)
                 and ($5::text is null or encrypted_password = $5)
               for update),
             s as (
               insert into auth.sessions (id, user_id, aal, user_agent, ip, created_at, updated_at)
               select gen_random_uuid(), u.id, 'aal1', $2, $3, now(), now() from u
               returning id, user_id, created_at),
             t as (
               insert into auth.refresh_tokens (instance_id, token, user_id, revoked, session_id)
               select '00000000-0000-0000-0000-000000000000', $4, s.user_id::text, false, s.id from s)
             select id, extract(epoch from created_at)::bigint from s",
            &[&user_id, &user_agent, &ip, &refresh_token, &password_hash],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    tx.execute(
        "update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1",
        &[&user_id],
    )
    .await?;
    tx.execute(
        "update auth.identities set last_sign_in_at = now() where user_id = $1 and provider = 'email'",
        &[&user_id],
    )
    .await?;
    Ok(Some((row.get(0), row.get(1))))
}

/// A presented refresh token, locked for the rest of the transaction.
pub struct PresentedToken {
    pub id: i64,
    pub revoked: bool,
    pub session_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub within_reuse_interval: bool,
    pub session_exists: bool,
    pub session_expired: bool,
    pub session_started: i64,
}

pub async fn lock_refresh_token(
    tx: &Transaction<'_>,
    token: &str,
    reuse_interval_secs: f64,
) -> Result<Option<PresentedToken>, GoTrueError> {
    let row = tx
        .query_opt(
            "select rt.id, coalesce(rt.revoked, false), rt.session_id, s.user_id,
                    rt.updated_at > now() - make_interval(secs => $2),
                    s.id is not null,
                    coalesce(s.not_after < now(), false),
                    coalesce(extract(epoch from s.created_at)::bigint, 0)
             from auth.refresh_tokens rt
             left join auth.sessions s on s.id = rt.session_id
             where rt.token = $1
             for update of rt",
            &[&token, &reuse_interval_secs],
        )
        .await?;
    Ok(row.map(|r| PresentedToken {
        id: r.get(0),
        revoked: r.get(1),
        session_id: r.get(2),
        user_id: r.get(3),
        within_reuse_interval: r.get(4),
        session_exists: r.get(5),
        session_expired: r.get(6),
        session_started: r.get(7),
    }))
}

/// The session's newest unrevoked refresh token.
pub async fn active_token(
    tx: &Transaction<'_>,
    session_id: Uuid,
) -> Result<Option<String>, GoTrueError> {
    Ok(tx
        .query_opt(
            "select token from auth.refresh_tokens
             where session_id = $1 and revoked = false order by id desc limit 1",
            &[&session_id],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Revokes the presented token and issues its child.
pub async fn rotate(
    tx: &Transaction<'_>,
    presented: &PresentedToken,
    old_token: &str,
    new_token: &str,
) -> Result<(), GoTrueError> {
    tx.execute(
        "update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1",
        &[&presented.id],
    )
    .await?;
    tx.execute(
        "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, parent, session_id)
         select instance_id, $2, user_id, false, $3, session_id from auth.refresh_tokens where id = $1",
        &[&presented.id, &new_token, &old_token],
    )
    .await?;
    tx.execute(
        "update auth.sessions set refreshed_at = timezone('utc', now()), updated_at = now() where id = $1",
        &[&presented.session_id],
    )
    .await?;
    Ok(())
}

/// Ends sessions: `Some(keep)` ends all of the user's sessions but `keep`.
pub async fn delete_sessions(
    tx: &Transaction<'_>,
    user_id: Uuid,
    only: Option<Uuid>,
    keep: Option<Uuid>,
) -> Result<u64, GoTrueError> {
    Ok(tx
        .execute(
            "delete from auth.sessions
             where user_id = $1 and ($2::uuid is null or id = $2) and ($3::uuid is null or id <> $3)",
            &[&user_id, &only, &keep],
        )
        .await?)
}

/// Whether the session exists.
pub async fn session_exists(tx: &Transaction<'_>, session_id: Uuid) -> Result<bool, GoTrueError> {
    Ok(tx
        .query_one(
            "select exists(select from auth.sessions where id = $1)",
            &[&session_id],
        )
        .await?
        .get(0))
}

/// Ends one session (cascades to its refresh tokens).
pub async fn delete_session(tx: &Transaction<'_>, session_id: Uuid) -> Result<(), GoTrueError> {
    tx.execute("delete from auth.sessions where id = $1", &[&session_id])
        .await?;
    Ok(())
}

/// Column updates of a user; `None` leaves a column as it is.
#[derive(Default)]
pub struct UserUpdate {
    pub email: Option<String>,
    pub password_hash: Option<String>,
    /// Keys merged into raw_user_meta_data (a JSON null removes a key).
    pub user_metadata: Option<Value>,
    /// Keys merged into raw_app_meta_data (a JSON null removes a key).
    pub app_metadata: Option<Value>,
    pub role: Option<String>,
    pub confirm_email: bool,
    /// `Some(None)` lifts a ban.
    pub banned_until: Option<Option<chrono::DateTime<chrono::Utc>>>,
}

pub async fn update_user(
    tx: &Transaction<'_>,
    id: Uuid,
    update: &UserUpdate,
) -> Result<(), GoTrueError> {
    let set_ban = update.banned_until.is_some();
    let ban: Option<chrono::DateTime<chrono::Utc>> = update.banned_until.flatten();
    let params: [&(dyn ToSql + Sync); 9] = [
        &id,
        &update.email,
        &update.password_hash,
        &update.user_metadata,
        &update.app_metadata,
        &update.role,
        &update.confirm_email,
        &set_ban,
        &ban,
    ];
    let result = tx
        .execute(
            "update auth.users set
               email = coalesce($2, email),
               encrypted_password = coalesce($3, encrypted_password),
               raw_user_meta_data = case when $4::jsonb is null then raw_user_meta_data else
                 (select coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
                  from jsonb_each(coalesce(raw_user_meta_data, '{}'::jsonb) || $4::jsonb)
                  where value <> 'null'::jsonb) end,
               raw_app_meta_data = case when $5::jsonb is null then raw_app_meta_data else
                 (select coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
                  from jsonb_each(coalesce(raw_app_meta_data, '{}'::jsonb) || $5::jsonb)
                  where value <> 'null'::jsonb) end,
               role = coalesce($6, role),
               email_confirmed_at = case when $7 then coalesce(email_confirmed_at, now())
                                         else email_confirmed_at end,
               banned_until = case when $8 then $9 else banned_until end,
               updated_at = now()
             where id = $1",
            &params,
        )
        .await;
    match result {
        Ok(_) => {}
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            return Err(GoTrueError::EmailExists);
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(email) = &update.email {
        tx.execute(
            "update auth.identities
             set identity_data = identity_data || jsonb_build_object('email', $2::text),
                 updated_at = now()
             where user_id = $1 and provider = 'email'",
            &[&id, email],
        )
        .await?;
    }
    Ok(())
}

/// One page of users (newest first) and the total count.
pub async fn list_users(
    tx: &Transaction<'_>,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Value>, i64), GoTrueError> {
    let sql = format!(
        "select {USER_JSON}::jsonb, count(*) over () from auth.users u
         where u.deleted_at is null
         order by u.created_at desc, u.id limit $1 offset $2"
    );
    let rows = tx
        .query(&sql, &[&per_page, &((page - 1).max(0) * per_page)])
        .await?;
    let total = match rows.first() {
        Some(r) => r.get(1),
        None => tx
            .query_one(
                "select count(*) from auth.users where deleted_at is null",
                &[],
            )
            .await?
            .get(0),
    };
    Ok((
        rows.into_iter()
            .map(|r| tidy(r.get::<_, Value>(0)))
            .collect(),
        total,
    ))
}

/// Deletes a user (hard: cascades to identities and sessions), or soft-deletes it.
pub async fn delete_user(tx: &Transaction<'_>, id: Uuid, soft: bool) -> Result<bool, GoTrueError> {
    let n = if soft {
        let n = tx
            .execute(
                "update auth.users set deleted_at = now(), email = null, phone = null,
                    encrypted_password = '', updated_at = now()
                 where id = $1 and deleted_at is null",
                &[&id],
            )
            .await?;
        tx.execute("delete from auth.sessions where user_id = $1", &[&id])
            .await?;
        tx.execute("delete from auth.identities where user_id = $1", &[&id])
            .await?;
        n
    } else {
        tx.execute("delete from auth.users where id = $1", &[&id])
            .await?
    };
    Ok(n > 0)
}
