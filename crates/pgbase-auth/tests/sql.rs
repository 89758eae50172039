//! The SQL side: pgjwt-compatible `extensions.sign/verify` and `auth.uid()/role()/email()/jwt()`
//! against a real Postgres holding the system schemas.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters";

#[tokio::test]
async fn sign_and_verify_round_trip_for_every_hmac_algorithm() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    for (alg, jalg) in [
        ("HS256", Algorithm::HS256),
        ("HS384", Algorithm::HS384),
        ("HS512", Algorithm::HS512),
    ] {
        let row = client
            .query_one(
                "select extensions.sign('{\"sub\":\"1234\",\"name\":\"x\"}'::json, $1, $2)",
                &[&SECRET, &alg],
            )
            .await
            .unwrap();
        let token: String = row.get(0);
        // Another implementation accepts it.
        let mut v = Validation::new(jalg);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let data =
            jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(SECRET.as_bytes()), &v)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.claims, json!({"sub": "1234", "name": "x"}));
        // And verify accepts it back.
        let row = client
            .query_one(
                "select header::text, payload::text, valid from extensions.verify($1, $2, $3)",
                &[&token, &SECRET, &alg],
            )
            .await
            .unwrap();
        let header: String = row.get(0);
        let payload: String = row.get(1);
        assert_eq!(header, format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}"));
        assert_eq!(payload, "{\"sub\":\"1234\",\"name\":\"x\"}");
        assert!(row.get::<_, bool>(2), "{alg}");
        // Wrong secret.
        let row = client
            .query_one(
                "select valid from extensions.verify($1, 'wrong secret', $2)",
                &[&token, &alg],
            )
            .await
            .unwrap();
        assert!(!row.get::<_, bool>(0));
    }
}

#[tokio::test]
async fn verify_accepts_tokens_from_other_implementations_and_rejects_tampering() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    let now = chrono::Utc::now().timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS512),
        &json!({"role": "authenticated", "exp": now + 60}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let valid = |t: String, alg: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "select valid from extensions.verify($1, $2, $3)",
                    &[&t, &SECRET, &alg],
                )
                .await
                .unwrap()
                .get::<_, bool>(0)
        }
    };
    assert!(valid(token.clone(), "HS512").await);
    // Payload swapped, signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let evil: String = client
        .query_one(
            "select extensions.url_encode(convert_to('{\"role\":\"service_role\"}', 'utf8'))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!valid(format!("{}.{}.{}", parts[0], evil, parts[2]), "HS512").await);
    // Expired, and not yet valid.
    for payload in [json!({"exp": now - 1}), json!({"nbf": now + 3600})] {
        let row = client
            .query_one(
                "select extensions.sign($1::json, $2, 'HS256')",
                &[&payload, &SECRET],
            )
            .await
            .unwrap();
        assert!(!valid(row.get(0), "HS256").await, "{payload}");
    }
    // A non-numeric exp leaves that side open, as pgjwt 0.2.0.
    let row = client
        .query_one(
            "select extensions.sign('{\"exp\":\"soon\"}'::json, $1)",
            &[&SECRET],
        )
        .await
        .unwrap();
    assert!(valid(row.get(0), "HS256").await);
}

#[tokio::test]
async fn url_encoding_and_unknown_algorithms_behave_like_pgjwt() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    let row = client
        .query_one(
            "select extensions.url_encode('\\xfbff'::bytea),
                    extensions.url_decode('-_8') = '\\xfbff'::bytea,
                    convert_from(extensions.url_decode('aGVsbG8'), 'utf8'),
                    extensions.url_encode(convert_to(repeat('x', 100), 'utf8')) !~ '[\\n=+/]'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "-_8");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "hello");
    assert!(row.get::<_, bool>(3));
    let err = client
        .query_one(
            "select extensions.sign('{}'::json, $1, 'RS256')",
            &[&SECRET],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "22023");
    // The API roles may call them.
    client
        .batch_execute("set role anon; select extensions.sign('{}'::json, 'k'); reset role;")
        .await
        .unwrap();
}

#[tokio::test]
async fn auth_functions_read_the_request_claims() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    let tx = client.transaction().await.unwrap();
    let row = tx
        .query_one(
            "select auth.uid() is null, auth.role() is null, auth.email() is null, auth.jwt() is null",
            &[],
        )
        .await
        .unwrap();
    for i in 0..4 {
        assert!(row.get::<_, bool>(i));
    }
    let claims = json!({"sub": "0b5f1d0e-4c36-4a8b-9d7e-0d3c2b1a0f9e", "role": "authenticated",
                        "email": "ada@example.com", "app_metadata": {"plan": "pro"}});
    tx.execute(
        "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)",
        &[&claims.to_string()],
    )
    .await
    .unwrap();
    let row = tx
        .query_one(
            "select auth.uid()::text, auth.role(), auth.email(), auth.jwt() -> 'app_metadata' ->> 'plan', current_user::text",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "0b5f1d0e-4c36-4a8b-9d7e-0d3c2b1a0f9e"
    );
    assert_eq!(row.get::<_, String>(1), "authenticated");
    assert_eq!(row.get::<_, String>(2), "ada@example.com");
    assert_eq!(row.get::<_, String>(3), "pro");
    assert_eq!(row.get::<_, String>(4), "authenticated");
    // The legacy per-claim settings win when set.
    tx.execute(
        "select set_config('request.jwt.claim.sub', 'aaaaaaaa-0000-0000-0000-000000000001', true)",
        &[],
    )
    .await
    .unwrap();
    let uid: String = tx
        .query_one("select auth.uid()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(uid, "aaaaaaaa-0000-0000-0000-000000000001");
    // The auth tables stay closed to the API roles.
    let err = tx.query("select * from auth.users", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn auth_uid_works_in_a_policy() {
    let db = pgbase_testkit::test_db().await;
    let mut client = db.connect().await;
    client
        .batch_execute(
            "create table public.notes (id serial primary key, user_id uuid, body text);
             alter table public.notes enable row level security;
             create policy own on public.notes using ((select auth.uid()) = user_id);
             grant all on public.notes to authenticated;
             insert into public.notes (user_id, body) values
               ('00000000-0000-0000-0000-00000000000a', 'a'),
               ('00000000-0000-0000-0000-00000000000b', 'b');",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "select set_config('role', 'authenticated', true),
                set_config('request.jwt.claims', '{\"sub\":\"00000000-0000-0000-0000-00000000000a\"}', true)",
        &[],
    )
    .await
    .unwrap();
    let rows = tx
        .query("select body from public.notes", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "a");
    tx.rollback().await.unwrap();
}
