//! Functions: stable/immutable as Query fields, volatile as Mutation fields, computed
//! fields (functions taking a row), scalar / row / setof returns.

mod common;

use serde_json::json;

const FUNCTIONS: &str = r#"
create function search_blogs(term text) returns setof blog stable language sql
  as $$ select * from blog where name ilike '%' || $1 || '%' $$;
create function blog_count() returns bigint stable language sql
  as $$ select count(*) from blog $$;
create function greet(name text, punct text default '!') returns text immutable language sql
  as $$ select 'hi ' || $1 || $2 $$;
create function add_account(email text) returns account volatile language sql
  as $$ insert into account (email) values ($1) returning * $$;
create function _name_upper(b blog) returns text stable language sql
  as $$ select upper(b.name) $$;
create function posts(b blog) returns setof blog_post stable language sql
  as $$ select * from blog_post where blog_id = b.id $$;
create function overloaded(a int) returns int immutable language sql as $$ select $1 $$;
create function overloaded(a text) returns text immutable language sql as $$ select $1 $$;
create function secret() returns int stable language sql as $$ select 42 $$;
revoke execute on function secret() from public, anon;
"#;

#[tokio::test]
async fn functions_become_query_and_mutation_fields() {
    let e = common::env_with(FUNCTIONS).await;
    let data = e
        .data(
            r#"{
                search_blogs(term: "blog 1", orderBy: [{ id: DescNullsLast }]) { edges { node { name } } }
                blog_count
                greet(name: "x")
                shout: greet(name: "y", punct: "?!")
            }"#,
        )
        .await;
    assert_eq!(
        data,
        json!({
            "search_blogs": {"edges": [{"node": {"name": "A: Blog 1"}}]},
            "blog_count": "3",
            "greet": "hi x!",
            "shout": "hi y?!"
        })
    );
    let out = e
        .run(
            "anon",
            r#"mutation { add_account(email: "z@x.com") { id email } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"add_account": {"id": 6, "email": "z@x.com"}}})
    );
    let msg = e.error(r#"{ add_account(email: "q") { id } }"#).await;
    assert!(
        msg.starts_with("Unknown field \"add_account\" on type Query"),
        "{msg}"
    );
    let msg = e.error("{ overloaded(a: 1) }").await;
    assert!(msg.starts_with("Unknown field \"overloaded\""), "{msg}");
    let msg = e.error("{ secret }").await;
    assert!(msg.starts_with("Unknown field \"secret\""), "{msg}");
    let out = e.run("service_role", "{ secret }", json!({})).await;
    assert_eq!(out, json!({"data": {"secret": 42}}));
}

#[tokio::test]
async fn computed_fields_take_the_row() {
    let e = common::env_with(FUNCTIONS).await;
    let data = e
        .data(r#"{ blogByPk(id: 1) { name_upper posts(first: 1) { edges { node { title } } } } }"#)
        .await;
    assert_eq!(
        data,
        json!({"blogByPk": {"name_upper": "A: BLOG 1", "posts": {"edges": [{"node": {"title": "post one"}}]}}})
    );
}
