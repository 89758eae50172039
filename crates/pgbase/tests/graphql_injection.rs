//! SQL injection through GraphQL (issue #16): hostile text in every place a document can carry
//! it — filter values (eq, in, like/ilike, is), orderBy, argument and field names, variables,
//! cursors, nodeIds, mutation values and `set` keys. Values must be bound, never spliced: a
//! filter value that would match every row if it reached the SQL text matches none, a hostile
//! string written by a mutation comes back byte for byte, names that do not exist are refused
//! by validation, and nothing in the table changes except by the one legitimate write.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::{Value, json};

const SCHEMA: &str = "
create table public.notes (id int primary key, title text not null, tags text[] not null default '{}');
insert into public.notes values (1, 'alpha', '{a}'), (2, 'beta', '{b}'), (3, 'gamma', '{c}');
create table public.canary (id int primary key);
insert into public.canary values (1);
grant select, insert, update, delete on public.notes to anon;
grant select on public.canary to anon;
";

/// Text that turns a spliced string literal or identifier into "every row" or a second statement.
const PAYLOADS: &[&str] = &[
    "' or '1'='1",
    "x'); drop table public.canary; --",
    "\\' or 1=1 --",
    "\" or \"\"=\"",
    "%' or title like '%",
    "$$ or true $$",
    "alpha' union select 1, current_user, '{}' --",
    "\u{0}",
    "'; select pg_sleep(5); --",
];

async fn post(app: &TestApp, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let r = app
        .request(Method::POST, "/graphql/v1", &[], Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
    r.json()
}

async fn table_state(app: &TestApp) -> Vec<Option<String>> {
    app.sql_texts(
        "select (select string_agg(n::text, ',' order by id) from public.notes n) || ' / ' ||
                (select string_agg(c::text, ',' order by id) from public.canary c)",
    )
    .await
}

/// The ids a `notesCollection` answer holds, or the error message.
fn ids_or_error(out: &Value) -> Result<Vec<i64>, String> {
    if let Some(message) = out["errors"][0]["message"].as_str() {
        return Err(message.to_string());
    }
    Ok(out["data"]["notesCollection"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges: {out}"))
        .iter()
        .map(|e| e["node"]["id"].as_i64().expect("id"))
        .collect())
}

#[tokio::test]
async fn hostile_text_in_graphql_is_bound_or_refused_and_changes_nothing() {
    let app = TestApp::new(SCHEMA).await;
    let before = table_state(&app).await;

    // Filter values, as literals and as variables: bound, so they match nothing.
    for payload in PAYLOADS {
        let literal = serde_json::to_string(payload).expect("json string");
        for (query, variables) in [
            (
                format!("{{ notesCollection(filter: {{title: {{eq: {literal}}}}}) {{ edges {{ node {{ id }} }} }} }}"),
                json!({}),
            ),
            (
                "query Q($t: String) { notesCollection(filter: {title: {eq: $t}}) { edges { node { id } } } }".into(),
                json!({"t": payload}),
            ),
            (
                "query Q($t: [String!]) { notesCollection(filter: {title: {in: $t}}) { edges { node { id } } } }".into(),
                json!({"t": [payload, payload]}),
            ),
            (
                "query Q($t: String) { notesCollection(filter: {or: [{title: {like: $t}}, {title: {ilike: $t}}]}) { edges { node { id } } } }".into(),
                json!({"t": payload}),
            ),
            (
                "query Q($f: notesFilter) { notesCollection(filter: $f) { edges { node { id } } } }".into(),
                json!({"f": {"title": {"neq": "alpha", "eq": payload}}}),
            ),
            (
                "query Q($t: [String!]) { notesCollection(filter: {tags: {contains: $t}}) { edges { node { id } } } }".into(),
                json!({"t": [payload]}),
            ),
        ] {
            let out = post(&app, &query, variables.clone()).await;
            let ids = ids_or_error(&out);
            // A few payloads are not valid text for Postgres (NUL): an error is fine; rows
            // are not. `%' or title like '%` is a real LIKE pattern and matches nothing here.
            match ids {
                Ok(ids) => assert!(ids.is_empty(), "{query} {variables}: matched {ids:?}"),
                Err(message) => assert!(
                    payload.contains('\u{0}'),
                    "{query} {variables}: unexpected error {message}"
                ),
            }
        }
    }

    // Names that do not exist are refused by validation, whatever they contain.
    let refused = [
        r#"{ notesCollection(filter: {title: {eq: "a"}, idx: {eq: 1}}) { edges { node { id } } } }"#,
        r#"{ notesCollection(orderBy: [{title: DescNullsLast, id: Sideways}]) { edges { node { id } } } }"#,
        r#"{ notesCollection(orderBy: [{title: "desc; drop table canary"}]) { edges { node { id } } } }"#,
        r#"{ notesCollection(first: "1; drop table canary") { edges { node { id } } } }"#,
        r#"{ notesCollection(after: "' or 1=1 --") { edges { node { id } } } }"#,
        r#"{ node(nodeId: "WyJwdWJsaWMiLCAibm90ZXMiLCAiMScnIG9yIDE9MSJd") { nodeId } }"#,
        r#"{ notesCollection(filter: {title: {regexp: "."}}) { edges { node { id } } } }"#,
        r#"mutation { updatenotesCollection(set: {title: "x", drop: "y"}, filter: {id: {eq: 1}}) { affectedCount } }"#,
        r#"mutation { insertIntonotesCollection(objects: [{id: "4); drop table canary; --", title: "x"}]) { affectedCount } }"#,
        r#"mutation { deleteFromnotesCollection(filter: {id: {eq: "1 or 1=1"}}) { affectedCount } }"#,
    ];
    for query in refused {
        let out = post(&app, query, json!({})).await;
        let message = out["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{query}: not refused: {out}");
        assert!(
            out["data"].is_null() || out["data"]["node"].is_null(),
            "{query}: {out}"
        );
    }
    let out = post(
        &app,
        "query Q($f: notesFilter) { notesCollection(filter: $f) { edges { node { id } } } }",
        json!({"f": {"title\"; drop table canary; --": {"eq": "a"}}}),
    )
    .await;
    assert!(out["errors"][0]["message"].is_string(), "{out}");
    assert_eq!(
        table_state(&app).await,
        before,
        "a read or a refused write changed data"
    );

    // A hostile value written by a mutation is stored and returned byte for byte.
    let hostile = "x'); drop table public.canary; -- $$ \" \\ %";
    let out = post(
        &app,
        "mutation M($t: String) { updatenotesCollection(set: {title: $t}, filter: {id: {eq: 2}}) { affectedCount records { title } } }",
        json!({"t": hostile}),
    )
    .await;
    assert_eq!(
        out["data"]["updatenotesCollection"],
        json!({"affectedCount": 1, "records": [{"title": hostile}]}),
        "{out}"
    );
    assert_eq!(
        app.sql_texts("select title from public.notes where id = 2")
            .await,
        vec![Some(hostile.to_string())]
    );
    assert_eq!(
        app.sql_texts("select count(*) from public.canary").await,
        vec![Some("1".to_string())]
    );
    // ... and found again by an exact filter on it (and only it)
    let out = post(
        &app,
        "query Q($t: String) { notesCollection(filter: {title: {eq: $t}}) { edges { node { id } } } }",
        json!({"t": hostile}),
    )
    .await;
    assert_eq!(ids_or_error(&out), Ok(vec![2]));
}
