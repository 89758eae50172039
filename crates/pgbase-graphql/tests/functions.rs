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
create function boom() returns int stable language sql as $$ select 1 / (select count(*) - count(*) from blog)::int $$;
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

/// Mutation records are the rows the write returned (anonymous records of a CTE): computed
/// fields over them, scalar and setof, still see the table's row type.
#[tokio::test]
async fn computed_fields_in_mutation_records() {
    let e = common::env_with(FUNCTIONS).await;
    let out = e
        .run(
            "anon",
            r#"mutation {
                insertIntoblogCollection(objects: [{ owner_id: 2, name: "new blog" }]) {
                    records { name name_upper posts(first: 1) { edges { node { title } } } }
                }
                updateblogCollection(set: { name: "renamed" }, filter: { id: { eq: 1 } }) {
                    affectedCount
                    records { id name_upper posts(first: 1) { edges { node { title } } } }
                }
            }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {
            "insertIntoblogCollection": {"records": [
                {"name": "new blog", "name_upper": "NEW BLOG", "posts": {"edges": []}}
            ]},
            "updateblogCollection": {"affectedCount": 1, "records": [
                {"id": 1, "name_upper": "RENAMED", "posts": {"edges": [{"node": {"title": "post one"}}]}}
            ]}
        }})
    );
    let out = e
        .run(
            "anon",
            r#"mutation { deleteFromblogCollection(filter: { name: { eq: "new blog" } }) {
                records { __typename name_upper }
            } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"deleteFromblogCollection": {"records": [
            {"__typename": "blog", "name_upper": "NEW BLOG"}
        ]}}})
    );
}

/// pg_graphql: a SQL error while running a query fails the whole request (`data: null`),
/// unlike a validation error of one field, which leaves the other fields.
#[tokio::test]
async fn a_sql_error_in_a_query_nulls_data() {
    let e = common::env_with(FUNCTIONS).await;
    let out = e
        .run("anon", "{ ok: blogByPk(id: 1) { id } boom }", json!({}))
        .await;
    assert_eq!(out["data"], json!(null), "{out}");
    assert_eq!(out["errors"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(out["errors"][0]["message"], "division by zero");

    let out = e
        .run(
            "anon",
            "{ ok: blogByPk(id: 1) { id } bad: blogByPk(id: 1) { zzzzzz } }",
            json!({}),
        )
        .await;
    // pg_graphql leaves the failed field out of `data` and writes only the message
    // (introspection.out, "mixed query")
    assert_eq!(out["data"], json!({"ok": {"id": 1}}), "{out}");
    assert_eq!(
        out["errors"],
        json!([{"message": "Unknown field \"zzzzzz\" on type blog"}])
    );

    let out = e
        .run(
            "anon",
            "{ a: blogByPk(id: 1) { nope } b: blogCollection(first: -1) { __typename } }",
            json!({}),
        )
        .await;
    assert_eq!(out["data"], json!(null), "{out}");
    assert_eq!(out["errors"].as_array().map(Vec::len), Some(2), "{out}");
}

/// Two fields of one GraphQL name: pg_graphql keeps the last (a later column, or a computed
/// field over a column, as in its `issue_337` suite), and the type lists the name once.
#[tokio::test]
async fn the_last_field_of_a_name_wins() {
    let e = common::env_with(
        r#"comment on schema public is e'@graphql({"inflect_names": true})';
           create table counter (
               id int primary key,
               hit_count int,
               "hitCount" int,
               total int
           );
           insert into counter values (1, 10, 20, 1);
           create function _total(rec counter) returns int stable language sql
               as $$ select rec.total + 100 $$;"#,
    )
    .await;
    let data = e
        .data("{ counterCollection(filter: { hitCount: { eq: 20 } }) { edges { node { hitCount total } } } }")
        .await;
    assert_eq!(
        data["counterCollection"]["edges"],
        json!([{"node": {"hitCount": 20, "total": 101}}])
    );
    let out = e
        .run(
            "anon",
            r#"mutation { updateCounterCollection(set: { hitCount: 21 }, filter: { id: { eq: 1 } }) { records { hitCount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out["data"]["updateCounterCollection"]["records"],
        json!([{"hitCount": 21}]),
        "{out}"
    );
    let data = e
        .data(
            r#"{ node: __type(name: "Counter") { fields { name } }
                 filter: __type(name: "CounterFilter") { inputFields { name } }
                 update: __type(name: "CounterUpdateInput") { inputFields { name } } }"#,
        )
        .await;
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&data["node"]["fields"]),
        ["nodeId", "id", "hitCount", "total"]
    );
    assert_eq!(
        names(&data["filter"]["inputFields"]),
        ["id", "hitCount", "total", "nodeId", "and", "or", "not"]
    );
    assert_eq!(
        names(&data["update"]["inputFields"]),
        ["id", "hitCount", "total"]
    );
}
