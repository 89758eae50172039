//! Test harness: a fresh database with a fixture schema and a `GraphqlState` over it.

#![allow(dead_code)]

use std::sync::Arc;

use pgbase_catalog::CatalogHandle;
use pgbase_graphql::{GraphqlState, Request, execute};
use pgbase_testkit::TestDb;
use serde_json::{Value, json};

pub const FIXTURE: &str = r#"
create type post_status as enum ('draft', 'published');
create table account (
    id serial primary key,
    email varchar(20) not null,
    created_at timestamptz not null default '2024-01-02T03:04:05Z',
    balance bigint default 9007199254740993,
    score numeric default 1.50,
    meta jsonb,
    tags text[]
);
comment on table account is e'@graphql({"totalCount": {"enabled": true}})';
create table blog (
    id serial primary key,
    owner_id int not null references account(id),
    name text not null,
    description text
);
create table blog_post (
    id uuid primary key default gen_random_uuid(),
    blog_id int not null references blog(id),
    title text not null,
    status post_status not null default 'draft',
    rank int
);
insert into account (email, meta, tags) values
  ('aardvark@x.com', '{"a": 1}', '{x,y}'),
  ('bat@x.com', null, null),
  ('cat@x.com', null, '{y}'),
  ('dog@x.com', null, null),
  ('elephant@x.com', null, null);
insert into blog (owner_id, name, description) values
  (1, 'A: Blog 1', 'a desc1'), (1, 'A: Blog 2', 'a desc2'), (2, 'B: Blog 3', null);
insert into blog_post (id, blog_id, title, status, rank) values
  ('00000000-0000-0000-0000-000000000001', 1, 'post one', 'published', 3),
  ('00000000-0000-0000-0000-000000000002', 1, 'post two', 'draft', 1),
  ('00000000-0000-0000-0000-000000000003', 2, 'post three', 'draft', null);
"#;

pub struct Env {
    pub db: TestDb,
    pub state: GraphqlState,
}

impl Env {
    /// Reloads the schema cache after DDL.
    pub async fn reload(&self) {
        let client = self.db.connect().await;
        self.state
            .catalog
            .reload(&client, &self.state.schemas)
            .await
            .expect("reload");
    }

    pub async fn sql(&self, sql: &str) {
        let client = self.db.connect().await;
        client.batch_execute(sql).await.expect("sql");
    }

    pub async fn run(&self, role: &str, query: &str, variables: Value) -> Value {
        self.run_claims(role, json!({ "role": role }), query, variables)
            .await
    }

    pub async fn run_claims(
        &self,
        role: &str,
        claims: Value,
        query: &str,
        variables: Value,
    ) -> Value {
        let request = Request {
            query: query.to_string(),
            variables: Some(variables),
            operation_name: None,
            read_only: false,
        };
        execute(&self.state, role, &claims, &request)
            .await
            .to_json()
    }

    /// Runs as `anon`, expects no errors, returns `data`.
    pub async fn data(&self, query: &str) -> Value {
        let out = self.run("anon", query, json!({})).await;
        assert!(out.get("errors").is_none(), "unexpected errors: {out}");
        out["data"].clone()
    }

    /// Runs as `anon`, expects errors, returns the first message.
    pub async fn error(&self, query: &str) -> String {
        let out = self.run("anon", query, json!({})).await;
        out["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {out}"))
            .to_string()
    }
}

pub async fn env_with(extra: &str) -> Env {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client.batch_execute(FIXTURE).await.expect("fixture");
    client.batch_execute(extra).await.expect("extra sql");
    let schemas = vec!["public".to_string()];
    let cache = pgbase_catalog::load(&client, &schemas)
        .await
        .expect("catalog");
    let handle = Arc::new(CatalogHandle::new(cache));
    let mut state = GraphqlState::new(db.pool(4), handle, schemas, true);
    // the upsert extension is on in these tests (mutations.rs exercises it)
    state.upsert = true;
    Env { db, state }
}

pub async fn env() -> Env {
    env_with("").await
}
