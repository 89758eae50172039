//! Reflection per role (privileges, RLS), naming and inflection, validation messages,
//! introspection and the HTTP layer.

mod common;

use bytes::Bytes;
use common::{env, env_with};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn a_role_without_select_does_not_see_the_table() {
    let e = env_with("revoke select on blog_post from anon;").await;
    let msg = e
        .error("{ blog_postCollection { edges { cursor } } }")
        .await;
    assert!(
        msg.starts_with("Unknown field \"blog_postCollection\" on type Query"),
        "{msg}"
    );
    // the relationship to it disappears too
    let msg = e
        .error("{ blogCollection { edges { node { blog_postCollection { edges { cursor } } } } } }")
        .await;
    assert!(
        // pg_graphql's words for a field of a row in a connection
        // (resolve_error_connection_edge_node_no_field.out)
        msg.starts_with("Unknown field 'blog_postCollection' on type 'blog'"),
        "{msg}"
    );
    // another role still sees it
    let out = e
        .run(
            "authenticated",
            "{ blog_postCollection { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert!(out.get("errors").is_none(), "{out}");
    // column privileges
    e.sql("revoke select on account from anon; grant select (id, email) on account to anon;")
        .await;
    e.reload().await;
    let msg = e
        .error("{ accountCollection { edges { node { meta } } } }")
        .await;
    assert!(
        msg.starts_with("Unknown field 'meta' on type 'account'"),
        "{msg}"
    );
    let data = e
        .data("{ accountCollection(first: 1) { edges { node { id email } } } }")
        .await;
    assert_eq!(
        data["accountCollection"]["edges"][0]["node"]["email"],
        "aardvark@x.com"
    );
}

#[tokio::test]
async fn row_level_security_limits_rows() {
    let e = env_with(
        "alter table blog enable row level security;
         create policy own on blog for select to authenticated
           using (owner_id = (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::int);",
    )
    .await;
    let q = "{ blogCollection { edges { node { id } } } }";
    let out = e
        .run_claims(
            "authenticated",
            json!({"role": "authenticated", "sub": "2"}),
            q,
            json!({}),
        )
        .await;
    assert_eq!(
        out["data"]["blogCollection"]["edges"],
        json!([{"node": {"id": 3}}])
    );
    let out = e
        .run_claims(
            "authenticated",
            json!({"role": "authenticated", "sub": "1"}),
            q,
            json!({}),
        )
        .await;
    assert_eq!(
        out["data"]["blogCollection"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn inflection_and_name_directives() {
    let e = env_with(
        r#"comment on schema public is e'@graphql({"inflect_names": true})';
           comment on column blog.description is e'@graphql({"name": "summary"})';"#,
    )
    .await;
    let data = e
        .data(
            r#"{ blogPostCollection(first: 1) { edges { node { __typename blogId blog { summary owner { createdAt } } } } } }"#,
        )
        .await;
    assert_eq!(
        data["blogPostCollection"]["edges"][0]["node"],
        json!({"__typename": "BlogPost", "blogId": 1, "blog": {"summary": "a desc1", "owner": {"createdAt": "2024-01-02T03:04:05+00:00"}}})
    );
    let data = e
        .data("{ accountCollection(first: 1) { edges { node { blogCollection { edges { node { id } } } } } } }")
        .await;
    assert_eq!(
        data["accountCollection"]["edges"][0]["node"]["blogCollection"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn validation_errors_name_the_field_and_suggest() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            "{ accountColection { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        // message only, as pg_graphql (resolve_error_query_no_field.out); the suggestion is
        // pgbase's own
        json!({"data": null, "errors": [{
            "message": "Unknown field \"accountColection\" on type Query. Did you mean \"accountCollection\"?"
        }]})
    );
    let msg = e
        .error("{ accountCollection(frist: 1) { edges { cursor } } }")
        .await;
    assert_eq!(
        msg,
        "Input contains extra keys [\"frist\"]. Did you mean \"first\"?"
    );
    let msg = e
        .error("{ accountCollection { edges { node { emali } } } }")
        .await;
    assert_eq!(
        msg,
        "Unknown field 'emali' on type 'account'. Did you mean \"email\"?"
    );
    let msg = e
        .error("{ accountCollection(first: \"x\") { edges { cursor } } }")
        .await;
    assert_eq!(msg, "Invalid input for Int type");
    let msg = e.error("{ account").await;
    assert!(
        msg.starts_with("query parse error: Parse error at 1:10"),
        "{msg}"
    );
    let msg = e
        .error("subscription { accountCollection { edges { cursor } } }")
        .await;
    assert_eq!(msg, "Subscriptions are not supported");
    let msg = e
        .error("query A { __typename } query B { __typename }")
        .await;
    assert_eq!(msg, "Operation not found");
    let msg = e
        .error(
            "{ a: accountCollection { edges { cursor } } a: blogCollection { edges { cursor } } }",
        )
        .await;
    // the later field first, as pg_graphql (issue_237_field_merging_mismatched.out)
    assert_eq!(
        msg,
        "Fields `blogCollection` and `accountCollection` are different"
    );
    let out = e
        .run(
            "anon",
            "{ accountCollection(first: 1) { edges { cursor } } accountCollection { pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"errors": [{"message": "Two fields named `accountCollection` have different arguments"}]})
    );
    let msg = e
        .error("{ accountCollection { edges { node { email: id email } } } }")
        .await;
    assert_eq!(msg, "Fields `email` and `id` are different");
    let msg = e
        .error("{ ...F } fragment F on Query { ...G } fragment G on Query { ...F }")
        .await;
    // pg_graphql's words (issue_fragment_spread_cycles.out)
    assert_eq!(msg, "Found a cycle between fragments");
}

#[tokio::test]
async fn a_failing_query_field_leaves_the_others() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            "{ ok: blogByPk(id: 1) { id } bad: accountCollection(first: 1, last: 1) { edges { cursor } } }",
            json!({}),
        )
        .await;
    // pg_graphql leaves the failed field out of `data` (introspection.out, "mixed query")
    assert_eq!(
        out,
        json!({"data": {"ok": {"id": 1}}, "errors": [
            {"message": "only one of \"first\" and \"last\" may be provided"}
        ]})
    );
}

#[tokio::test]
async fn introspection_describes_the_reflected_schema() {
    let e = env().await;
    let data = e
        .data(
            r#"{ __type(name: "blog") { kind name interfaces { name } fields { name type { kind name ofType { kind name } } } }
                 __schema { queryType { name } mutationType { name } directives { name } } }"#,
        )
        .await;
    let t = &data["__type"];
    assert_eq!(t["kind"], "OBJECT");
    assert_eq!(t["interfaces"], json!([{"name": "Node"}]));
    let fields: Vec<&str> = t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "nodeId",
            "id",
            "owner_id",
            "name",
            "description",
            "account",
            "blog_postCollection"
        ]
    );
    assert_eq!(
        t["fields"][0]["type"],
        json!({"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "ID"}})
    );
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    assert_eq!(data["__schema"]["mutationType"]["name"], "Mutation");
    // off unless configured
    let mut off = env().await;
    off.state = pgbase_graphql::GraphqlState::new(
        off.db.pool(2),
        off.state.catalog.clone(),
        vec!["public".into()],
        false,
    );
    let msg = off.error("{ __schema { queryType { name } } }").await;
    assert!(
        msg.starts_with("Unknown field \"__schema\" on type Query"),
        "{msg}"
    );
}

async fn http(
    e: &common::Env,
    method: Method,
    query: Option<&str>,
    headers: &[(&'static str, &'static str)],
    body: &str,
) -> (StatusCode, Vec<(String, String)>, Value, String) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, HeaderValue::from_static(v));
    }
    let (status, headers, body) = pgbase_graphql::handle(
        &e.state,
        "anon",
        &json!({"role": "anon"}),
        &method,
        query,
        &map,
        Bytes::from(body.to_string()),
    )
    .await;
    let text = String::from_utf8_lossy(&body).into_owned();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, value, text)
}

#[tokio::test]
async fn http_transport_post_get_and_graphiql() {
    let e = env().await;
    let (status, headers, body, _) = http(
        &e,
        Method::POST,
        None,
        &[("content-type", "application/json")],
        r#"{"query": "query Q($id: Int!) { blogByPk(id: $id) { name } }", "variables": {"id": 1}, "operationName": "Q"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[0].1, "application/json; charset=utf-8");
    assert_eq!(body, json!({"data": {"blogByPk": {"name": "A: Blog 1"}}}));

    let (status, _, body, _) = http(
        &e,
        Method::GET,
        Some("query=%7BblogByPk(id%3A%202)%7Bname%7D%7D"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"data": {"blogByPk": {"name": "A: Blog 2"}}}));

    let (status, headers, body, _) = http(
        &e,
        Method::POST,
        None,
        &[("accept", "application/graphql-response+json")],
        r#"{"query": "{ nope }"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers[0]
            .1
            .starts_with("application/graphql-response+json")
    );
    assert_eq!(body["data"], json!(null));

    let (status, headers, _, text) = http(
        &e,
        Method::GET,
        None,
        &[("accept", "text/html,application/xhtml+xml")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[0].1.starts_with("text/html"));
    assert!(text.contains("GraphiQL"));

    let (_, _, body, _) = http(
        &e,
        Method::GET,
        Some("query=mutation%7BdeleteFromblogCollection%7BaffectedCount%7D%7D"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        body["errors"][0]["message"],
        "Mutations are not allowed over GET; use POST"
    );

    let (status, _, body, _) = http(&e, Method::POST, None, &[], "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON body")
    );
}

/// The full graphql-js introspection query answers without errors, and every type it
/// references exists. With `PGBASE_GRAPHQL_DUMP=path` the result is written there (for
/// checking it with graphql-js `buildClientSchema`).
#[tokio::test]
async fn full_introspection_query_is_self_consistent() {
    let e = env().await;
    let query = include_str!("fixtures/introspection.graphql");
    let out = e.run("anon", query, json!({})).await;
    assert!(out.get("errors").is_none(), "{out}");
    if let Ok(path) = std::env::var("PGBASE_GRAPHQL_DUMP") {
        std::fs::write(path, out.to_string()).unwrap();
    }
    let types = out["data"]["__schema"]["types"].as_array().unwrap();
    let names: std::collections::HashSet<&str> =
        types.iter().map(|t| t["name"].as_str().unwrap()).collect();
    fn base(t: &Value) -> &str {
        match t["ofType"].is_null() {
            true => t["name"].as_str().unwrap(),
            false => base(&t["ofType"]),
        }
    }
    for t in types {
        let refs = ["fields", "inputFields"].iter().flat_map(|k| {
            t[*k].as_array().into_iter().flatten().flat_map(|f| {
                let mut v = vec![base(&f["type"])];
                v.extend(
                    f["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| base(&a["type"])),
                );
                v
            })
        });
        for r in refs {
            assert!(
                names.contains(r),
                "{} references missing type {r}",
                t["name"]
            );
        }
    }
    for expected in [
        "blog",
        "blogConnection",
        "blogEdge",
        "blogFilter",
        "blogOrderBy",
        "blogInsertInput",
        "blogUpdateInput",
        "blogInsertResponse",
        "blogUpdateResponse",
        "blogDeleteResponse",
        "post_status",
        "post_statusFilter",
        "PageInfo",
        "Node",
        "BigInt",
        "Cursor",
        "__Type",
    ] {
        assert!(names.contains(expected), "missing {expected}");
    }
}

/// With `PGBASE_GRAPHQL_JS=<dir holding node_modules/graphql>`, graphql-js builds a client
/// schema from our introspection and validates documents against it
/// (`tests/fixtures/check_client_schema.js`). Skipped otherwise (needs node and npm).
#[tokio::test]
async fn graphql_js_builds_a_client_schema() {
    let Ok(dir) = std::env::var("PGBASE_GRAPHQL_JS") else {
        assert!(
            std::env::var_os("PGBASE_REQUIRE_TOOLS").is_none(),
            "PGBASE_REQUIRE_TOOLS is set but PGBASE_GRAPHQL_JS (a folder with \
             node_modules/graphql; scripts/test sets it to e2e/) is not"
        );
        eprintln!("PGBASE_GRAPHQL_JS not set; skipping the graphql-js check");
        return;
    };
    let e = env().await;
    let out = e
        .run(
            "anon",
            include_str!("fixtures/introspection.graphql"),
            json!({}),
        )
        .await;
    let dump = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pgbase-introspection.json");
    std::fs::write(&dump, out.to_string()).expect("write the introspection dump");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/check_client_schema.js"
    );
    let status = std::process::Command::new("node")
        .arg(script)
        .arg(&dump)
        .env("NODE_PATH", std::path::Path::new(&dir).join("node_modules"))
        .status()
        .expect("node");
    assert!(status.success());
}

#[tokio::test]
async fn views_with_declared_keys_enums_with_mappings_and_max_rows() {
    let e = env_with(
        r#"create view blog_summary as select id, name from blog;
           comment on view blog_summary is e'@graphql({"primary_key_columns": ["id"], "max_rows": 2, "totalCount": {"enabled": true}, "foreign_keys": [{"local_name": "summary", "local_columns": ["id"], "foreign_name": "full", "foreign_schema": "public", "foreign_table": "blog", "foreign_columns": ["id"]}]})';
           create view no_key as select id from blog;
           comment on type post_status is e'@graphql({"name": "PostStatus", "mappings": {"draft": "DRAFT", "published": "PUBLISHED"}})';"#,
    )
    .await;
    let data = e
        .data(
            r#"{ blog_summaryCollection { totalCount edges { node { name full { id } } } pageInfo { hasNextPage } } }"#,
        )
        .await;
    assert_eq!(
        data["blog_summaryCollection"],
        json!({"totalCount": 3, "edges": [
            {"node": {"name": "A: Blog 1", "full": {"id": 1}}},
            {"node": {"name": "A: Blog 2", "full": {"id": 2}}}
        ], "pageInfo": {"hasNextPage": true}})
    );
    let data = e.data("{ blogByPk(id: 3) { summary { name } } }").await;
    assert_eq!(data["blogByPk"]["summary"]["name"], "B: Blog 3");
    let msg = e.error("{ no_keyCollection { edges { cursor } } }").await;
    assert!(
        msg.starts_with("Unknown field \"no_keyCollection\""),
        "{msg}"
    );
    // enum names and mappings, in and out
    let out = e
        .run(
            "anon",
            r#"mutation { updateblog_postCollection(set: { status: PUBLISHED }, filter: { status: { eq: DRAFT }, rank: { eq: 1 } }) { records { status } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"updateblog_postCollection": {"records": [{"status": "PUBLISHED"}]}}})
    );
    let data = e
        .data(r#"{ __type(name: "PostStatus") { kind enumValues { name } } }"#)
        .await;
    assert_eq!(
        data["__type"],
        json!({"kind": "ENUM", "enumValues": [{"name": "DRAFT"}, {"name": "PUBLISHED"}]})
    );
}

#[tokio::test]
async fn the_schema_follows_catalog_reloads() {
    let e = env().await;
    assert!(
        e.error("{ tagCollection { edges { cursor } } }")
            .await
            .starts_with("Unknown field")
    );
    e.sql("create table tag (id int primary key, label text); insert into tag values (1, 't');")
        .await;
    e.reload().await;
    let data = e
        .data("{ tagCollection { edges { node { label } } } }")
        .await;
    assert_eq!(data["tagCollection"]["edges"][0]["node"]["label"], "t");
}

#[tokio::test]
async fn hostile_documents_are_refused() {
    let e = env().await;
    // fragments that multiply
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..20 {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} __typename }}\n",
            n = i + 1
        ));
    }
    q.push_str("fragment F20 on Query { __typename }\n");
    let msg = e.error(&q).await;
    assert!(msg.starts_with("Too many fragment expansions"), "{msg}");
    // aliases
    let fields: String = (0..300).map(|i| format!("a{i}: __typename ")).collect();
    let msg = e.error(&format!("{{ {fields} }}")).await;
    assert!(msg.starts_with("Too many aliases"), "{msg}");
    // depth
    let q = format!(
        "{}{}",
        "{ blogCollection { edges { node { ".repeat(30),
        "}".repeat(120)
    );
    let msg = e.error(&q).await;
    assert!(msg.contains("nested too deeply"), "{msg}");
}

/// pg_graphql reads `@graphql(...)` from its first `(` to the comment's last `)`, across
/// lines (its `views_integration` and `resolve_graphiql_schema` suites write directives over
/// several lines).
#[tokio::test]
async fn multi_line_directives_are_read() {
    let e = env_with(
        "comment on schema public is e'@graphql({\n  \"inflect_names\": true\n})';
         create view blog_summary as select id, name from blog;
         comment on view blog_summary is e'The blogs (summed up).\n@graphql({\n    \"primary_key_columns\": [\"id\"],\n    \"totalCount\": {\"enabled\": true},\n    \"foreign_keys\": [\n      {\n        \"local_name\": \"summary\",\n        \"local_columns\": [\"id\"],\n        \"foreign_name\": \"full\",\n        \"foreign_schema\": \"public\",\n        \"foreign_table\": \"blog\",\n        \"foreign_columns\": [\"id\"]\n      }\n    ]\n})\n';
         comment on column blog.description is e'@graphql({\n\"name\": \"summaryText\"\n})';",
    )
    .await;
    let data = e
        .data("{ blogSummaryCollection(first: 1) { totalCount edges { node { name full { summaryText } } } } }")
        .await;
    assert_eq!(
        data["blogSummaryCollection"],
        json!({"totalCount": 3, "edges": [{"node": {"name": "A: Blog 1", "full": {"summaryText": "a desc1"}}}]})
    );
}

/// A directive value of the wrong type fails the whole schema with pg_graphql's words
/// (`views_integration.out`, `test_error_invalid_offset.out`), and no `data` key.
#[tokio::test]
async fn mistyped_directives_fail_the_schema_as_pg_graphql_says() {
    let e = env_with(
        r#"comment on table blog is e'@graphql({
            "foreign_keys": [{"local_columns": "owner_id", "foreign_schema": "public",
                              "foreign_table": "account", "foreign_columns": ["id"]}]
        })';"#,
    )
    .await;
    let out = e
        .run(
            "anon",
            "{ accountCollection { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"errors": [{"message": "Error while loading schema, check comment directives. invalid type: string \"owner_id\", expected a sequence"}]})
    );
    e.sql(
        r#"comment on table blog is null;
           comment on schema public is e'@graphql({"max_rows": -1, "inflect_names": true})';"#,
    )
    .await;
    e.reload().await;
    let out = e
        .run("anon", "{ blogCollection { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(
        out,
        json!({"errors": [{"message": "Error while loading schema, check comment directives. invalid value: integer `-1`, expected u64"}]})
    );
}

/// pg_graphql words an unknown field by where it is (its resolve_error_* suites and
/// aggregate.out).
#[tokio::test]
async fn unknown_fields_are_worded_by_place() {
    let e =
        env_with(r#"comment on table blog_post is e'@graphql({"aggregate": {"enabled": true}})';"#)
            .await;
    for (query, message) in [
        (
            "{ blogCollection { zzzzzz } }",
            "unknown field in connection",
        ),
        (
            "{ blogCollection { edges { zzzzzz } } }",
            "unknown field in edge",
        ),
        (
            "{ blogCollection { pageInfo { zzzzzz } } }",
            "unknown field in pageInfo",
        ),
        (
            "{ blogCollection { edges { node { zzzzzz } } } }",
            "Unknown field 'zzzzzz' on type 'blog'",
        ),
        (
            "{ blogByPk(id: 1) { zzzzzz } }",
            "Unknown field \"zzzzzz\" on type blog",
        ),
        (
            "{ blog_postCollection { aggregate { zzzzzz } } }",
            "Unknown field \"zzzzzz\" selected on type \"blog_postAggregate\"",
        ),
        (
            "{ blog_postCollection { aggregate { min { zzzzzz } } } }",
            "Unknown or invalid field \"zzzzzz\" selected on type \"blog_postMinAggregateResult\"",
        ),
        ("{ zzzzzz }", "Unknown field \"zzzzzz\" on type Query"),
        (
            "mutation { deleteFromblogCollection(filter: { id: { eq: 1 } }) { zzzzzz } }",
            "unknown field in delete",
        ),
    ] {
        assert_eq!(e.error(query).await, message, "{query}");
    }
}

/// Built-in types, enum values and directives carry pg_graphql's descriptions.
#[tokio::test]
async fn built_in_descriptions_are_pg_graphqls() {
    let e = env().await;
    let data = e
        .data(
            r#"{ int: __type(name: "Int") { description }
                 cursor: __type(name: "Cursor") { description }
                 order: __type(name: "OrderByDirection") { enumValues { name description } }
                 __schema { directives { name description args { description } } } }"#,
        )
        .await;
    assert_eq!(data["int"]["description"], "A scalar integer up to 32 bits");
    assert_eq!(
        data["cursor"]["description"],
        "An opaque string using for tracking a position in results during pagination"
    );
    assert_eq!(
        data["order"]["enumValues"][0],
        json!({"name": "AscNullsFirst", "description": "Ascending order, nulls first"})
    );
    let skip = data["__schema"]["directives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "skip")
        .cloned()
        .unwrap();
    assert_eq!(
        skip,
        json!({"name": "skip",
               "description": "This field or fragment will be skipped when the `if` argument is true.",
               "args": [{"description": "Skipped when true"}]})
    );
}

/// With introspection off, `__schema`/`__type` fail one by one and the data fields of the
/// same document still resolve (pg_graphql's introspection.out, "mixed query").
#[tokio::test]
async fn introspection_off_leaves_the_data_fields() {
    let mut e = env().await;
    e.state.introspection = false;
    let out = e
        .run(
            "anon",
            r#"{ __schema { types { name } } __type(name: "blog") { name } blogByPk(id: 1) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"blogByPk": {"id": 1}}, "errors": [
            {"message": "Unknown field \"__schema\" on type Query"},
            {"message": "Unknown field \"__type\" on type Query"}
        ]})
    );
}
