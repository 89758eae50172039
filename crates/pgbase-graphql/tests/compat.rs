//! Behaviours found by replaying pg_graphql's regression suite (compat/pg_graphql): variables
//! checked where they are used, wording of missing arguments, the place of `nodeId` in filters,
//! per-schema introspection, and small introspection details.

mod common;

use common::{env, env_with};
use serde_json::{Value, json};

fn message(out: &Value) -> &str {
    out["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {out}"))
}

/// A variable's value is checked against the argument it is passed to, whatever type the
/// operation declares for it; a missing variable is reported by what needs it.
#[tokio::test]
async fn variables_are_checked_where_they_are_used() {
    let e = env().await;
    let q = "query($v: Int!) { accountCollection(filter: $v) { edges { node { email } } } }";
    let out = e
        .run("anon", q, json!({"v": {"email": {"eq": "bat@x.com"}}}))
        .await;
    assert_eq!(
        out,
        json!({"data": {"accountCollection": {"edges": [{"node": {"email": "bat@x.com"}}]}}})
    );
    let out = e.run("anon", q, json!({"v": "x"})).await;
    assert_eq!(message(&out), "Invalid input for accountFilter type");

    let q = "query($o: accountOrderBy!) { accountCollection(orderBy: [$o]) { edges { cursor } } }";
    let out = e.run("anon", q, json!({})).await;
    assert_eq!(message(&out), "Invalid input for NonNull type");

    let q = "query($s: Boolean!) { accountCollection @skip(if: $s) { edges { cursor } } }";
    let out = e.run("anon", q, json!({})).await;
    assert_eq!(
        message(&out),
        "Value for \"if\" in @skip directive is required"
    );
    // a declared default still applies
    let q = "query($s: Boolean = true) {
        accountCollection @skip(if: $s) { edges { cursor } }
        blogByPk(id: 1) { id }
    }";
    let out = e.run("anon", q, json!({})).await;
    assert_eq!(out, json!({"data": {"blogByPk": {"id": 1}}}));
}

#[tokio::test]
async fn missing_arguments_are_worded_as_pg_graphql_words_them() {
    let e = env_with(
        "create table item (shop int, sku int, qty int, primary key (shop, sku));
         insert into item values (1, 2, 3);",
    )
    .await;
    let out = e
        .run(
            "service_role",
            "mutation { updateaccountCollection(atMost: 1) { affectedCount } }",
            json!({}),
        )
        .await;
    assert_eq!(message(&out), "Invalid input for NonNull type");
    let out = e
        .run("anon", "{ itemByPk(shop: 1) { qty } }", json!({}))
        .await;
    assert_eq!(message(&out), "Missing primary key column(s): sku");
    let out = e.run("anon", "{ itemByPk { qty } }", json!({})).await;
    assert_eq!(message(&out), "Missing primary key column(s): shop, sku");
    let out = e
        .run("anon", "{ itemByPk(shop: 1, sku: 2) { qty } }", json!({}))
        .await;
    assert_eq!(out, json!({"data": {"itemByPk": {"qty": 3}}}));
}

#[tokio::test]
async fn filters_list_node_id_after_the_columns() {
    let e = env().await;
    let data = e
        .data(r#"{ __type(name: "blogFilter") { inputFields { name } } }"#)
        .await;
    let names: Vec<&str> = data["__type"]["inputFields"]
        .as_array()
        .expect("input fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).expect(n);
    assert_eq!(names[0], "id");
    assert!(pos("nodeId") > pos("description"), "{names:?}");
    assert!(pos("nodeId") < pos("and"), "{names:?}");
}

/// Introspection turned on by one schema's directive leaves out the types and root fields of
/// exposed schemas that do not opt in; their data still resolves.
#[tokio::test]
async fn introspection_leaves_out_schemas_that_do_not_opt_in() {
    let sql = r#"
        create schema hidden;
        create table hidden.secret (id int primary key, word text);
        insert into hidden.secret values (1, 'psst');
        grant usage on schema hidden to anon;
        grant select on hidden.secret to anon;
    "#;
    let mut e = env_with(sql).await;
    let schemas = vec!["public".to_string(), "hidden".to_string()];
    let pool = e.db.pool(2);
    let client = e.db.connect().await;
    for (server_flag, public, hidden) in [
        (false, r#"{"introspection": true}"#, None),
        (true, "", Some(r#"{"introspection": false}"#)),
    ] {
        let public = if public.is_empty() {
            "comment on schema public is null".to_string()
        } else {
            format!("comment on schema public is '@graphql({public})'")
        };
        let hidden = match hidden {
            Some(d) => format!("comment on schema hidden is '@graphql({d})'"),
            None => "comment on schema hidden is null".to_string(),
        };
        client
            .batch_execute(&format!("{public}; {hidden};"))
            .await
            .expect("comments");
        let cache = pgbase_catalog::load(&client, &schemas)
            .await
            .expect("catalog");
        e.state = pgbase_graphql::GraphqlState::new(
            pool.clone(),
            std::sync::Arc::new(pgbase_catalog::CatalogHandle::new(cache)),
            schemas.clone(),
            server_flag,
        );
        let out = e
            .run("anon", r#"{ __type(name: "secret") { name } }"#, json!({}))
            .await;
        assert_eq!(out, json!({"data": {"__type": null}}), "flag {server_flag}");
        let out = e
            .run("anon", r#"{ __type(name: "blog") { name } }"#, json!({}))
            .await;
        assert_eq!(out, json!({"data": {"__type": {"name": "blog"}}}));
        let out = e
            .run(
                "anon",
                "{ __schema { types { name } queryType { fields { name } } } }",
                json!({}),
            )
            .await;
        let text = out.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("blogCollection"), "{text}");
        let out = e
            .run(
                "anon",
                "{ secretCollection { edges { node { word } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            out,
            json!({"data": {"secretCollection": {"edges": [{"node": {"word": "psst"}}]}}})
        );
    }
}

#[tokio::test]
async fn introspection_details_as_pg_graphql_answers_them() {
    let e = env().await;
    let data = e
        .data(r#"{ __schema { description } __type(name: "blog") { __typename name } }"#)
        .await;
    assert_eq!(
        data,
        json!({
            "__schema": {"description": "Represents the GraphQL schema of the database"},
            "__type": {"__typename": "blog", "name": "blog"}
        })
    );
}

/// Undecodable node ids carry pg_graphql's error numbers (2 base64, 3 UTF-8, 4 JSON,
/// 10 not an array, 5 too short, 6/7 schema/table not a string).
#[tokio::test]
async fn node_id_errors_are_numbered_as_pg_graphql_numbers_them() {
    let e = env().await;
    for (id, n) in [
        ("@@", 2),
        ("/w==", 3),
        ("", 4),
        ("eyJhIjogMX0=", 10),
        ("WyJwdWJsaWMiXQ==", 5),
        ("WzEsICJibG9nIiwgMV0=", 6),
        ("WyJwdWJsaWMiLCAxLCAxXQ==", 7),
    ] {
        let q = format!(r#"{{ node(nodeId: "{id}") {{ nodeId }} }}"#);
        let out = e.run("anon", &q, json!({})).await;
        assert_eq!(
            message(&out),
            format!("Invalid value passed to nodeId argument. Error {n}"),
            "{id}"
        );
    }
}

/// As pg_graphql, functions taking or returning an enum (or an array of one) and functions of
/// the Supabase system schemas are not exposed; their neighbours are.
#[tokio::test]
async fn functions_pg_graphql_leaves_out() {
    let sql = r#"
        create type mood as enum ('happy-ish', 'sad');
        comment on type mood is '@graphql({"mappings": {"happy-ish": "HAPPY"}})';
        create function current_mood() returns mood language sql stable as $$ select 'sad'::mood $$;
        create function moods() returns mood[] language sql stable as $$ select array['sad'::mood] $$;
        create function rate(m mood) returns int language sql stable as $$ select 1 $$;
        create function rate_all(m mood[]) returns int language sql stable as $$ select 1 $$;
        create function plain(n int) returns int language sql stable as $$ select n + 1 $$;
    "#;
    let mut e = env_with(sql).await;
    let schemas = vec!["public".to_string(), "auth".to_string()];
    let client = e.db.connect().await;
    let cache = pgbase_catalog::load(&client, &schemas)
        .await
        .expect("catalog");
    e.state = pgbase_graphql::GraphqlState::new(
        e.db.pool(2),
        std::sync::Arc::new(pgbase_catalog::CatalogHandle::new(cache)),
        schemas,
        true,
    );
    let data = e
        .data(r#"{ __type(name: "Query") { fields { name } } }"#)
        .await;
    let names: Vec<&str> = data["__type"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"plain"), "{names:?}");
    for hidden in [
        "currentMood",
        "current_mood",
        "moods",
        "rate",
        "rate_all",
        "uid",
        "jwt",
    ] {
        assert!(!names.contains(&hidden), "{hidden} in {names:?}");
    }
    let out = e.run("anon", "{ rate(m: HAPPY) }", json!({})).await;
    assert_eq!(message(&out), "Unknown field \"rate\" on type Query");
    assert_eq!(e.data("{ plain(n: 1) }").await, json!({"plain": 2}));
}

/// Variables are read from the request as given, declared or not (pg_graphql does not check
/// that a used variable is declared); unknown arguments are extra keys of the arguments.
#[tokio::test]
async fn undeclared_variables_and_unknown_arguments() {
    let e = env().await;
    let q = "query($declared: Int) { blogByPk(id: $undeclared) { name } }";
    let out = e.run("anon", q, json!({"undeclared": 2})).await;
    assert_eq!(out, json!({"data": {"blogByPk": {"name": "A: Blog 2"}}}));
    let out = e
        .run(
            "anon",
            "{ blogCollection(unknown: 1) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(message(&out), "Input contains extra keys [\"unknown\"]");
}

/// `enumValues` of a type that is not an enum, and `interfaces` of one that is not an object,
/// are empty lists, as pg_graphql answers.
#[tokio::test]
async fn enum_values_of_other_kinds_are_empty() {
    let e = env().await;
    let data = e
        .data(r#"{ a: __type(name: "blog") { enumValues { name } } b: __type(name: "post_status") { enumValues { name } } c: __type(name: "Int") { interfaces { name } } }"#)
        .await;
    assert_eq!(
        data,
        json!({"a": {"enumValues": []}, "b": {"enumValues": [{"name": "draft"}, {"name": "published"}]}, "c": {"interfaces": []}})
    );
}

/// When introspection hides every mutation field, `__schema.mutationType` is null.
#[tokio::test]
async fn no_mutation_type_when_every_mutation_is_hidden() {
    let mut e =
        env_with(r#"comment on schema public is '@graphql({"introspection": false})';"#).await;
    let schemas = vec!["public".to_string()];
    let client = e.db.connect().await;
    let cache = pgbase_catalog::load(&client, &schemas)
        .await
        .expect("catalog");
    e.state = pgbase_graphql::GraphqlState::new(
        e.db.pool(2),
        std::sync::Arc::new(pgbase_catalog::CatalogHandle::new(cache)),
        schemas,
        true,
    );
    let data = e
        .data("{ __schema { mutationType { name } queryType { fields { name } } } }")
        .await;
    assert_eq!(
        data,
        json!({"__schema": {"mutationType": null, "queryType": {"fields": [{"name": "node"}]}}})
    );
    // the data itself still answers
    let data = e.data("{ blogByPk(id: 1) { id } }").await;
    assert_eq!(data, json!({"blogByPk": {"id": 1}}));
}

/// A cursor may carry fewer values than the order has terms (pg_graphql compares those it
/// carries and leaves out the rows equal on all of them); a longer one is refused.
#[tokio::test]
async fn cursors_shorter_than_the_order_page_on_their_prefix() {
    let e = env().await;
    let q = r#"{ blogCollection(orderBy: [{name: AscNullsLast}], after: "WyJBOiBCbG9nIDEiXQ==") {
        edges { node { name } } } }"#;
    assert_eq!(
        e.data(q).await,
        json!({"blogCollection": {"edges": [{"node": {"name": "A: Blog 2"}}, {"node": {"name": "B: Blog 3"}}]}})
    );
    // [1, 2, 3] for name + id
    let q = r#"{ blogCollection(orderBy: [{name: AscNullsLast}], after: "WzEsIDIsIDNd") {
        edges { node { name } } } }"#;
    assert_eq!(
        e.error(q).await,
        "orderBy clause incompatible with pagination cursor"
    );
}

/// Arrays of json/jsonb, from columns and from functions, hold each document as a string
/// (json keeps its text, jsonb its normal form).
#[tokio::test]
async fn json_arrays_hold_strings() {
    let e = env_with(
        r#"create table doc (id int primary key, js json[], jsb jsonb[]);
           insert into doc values (1, array['{"a" : 1}'::json], array['{"b":2}'::jsonb]);
           create function docs_json() returns json[] language sql stable
             as $$ select array['{"c" :3}'::json] $$;"#,
    )
    .await;
    assert_eq!(
        e.data("{ docByPk(id: 1) { js jsb } docs_json }").await,
        json!({"docByPk": {"js": ["{\"a\" : 1}"], "jsb": ["{\"b\": 2}"]}, "docs_json": ["{\"c\" :3}"]})
    );
}
