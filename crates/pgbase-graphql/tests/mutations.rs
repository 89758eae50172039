//! Mutations: insert, update and delete with `atMost`, rollback of the whole request.

mod common;

use common::env;
use serde_json::json;

#[tokio::test]
async fn insert_returns_records_and_uses_defaults() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            r#"mutation($objs: [accountInsertInput!]!) {
                insertIntoaccountCollection(objects: $objs) {
                    affectedCount
                    records { id email balance meta }
                }
            }"#,
            json!({"objs": [
                {"email": "new1@x.com", "meta": "{\"k\": [1]}"},
                {"email": "new2@x.com", "balance": "5"}
            ]}),
        )
        .await;
    assert!(out.get("errors").is_none(), "{out}");
    let r = &out["data"]["insertIntoaccountCollection"];
    assert_eq!(r["affectedCount"], 2);
    let mut records = r["records"].as_array().unwrap().clone();
    records.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(
        records,
        vec![
            json!({"id": 6, "email": "new1@x.com", "balance": "9007199254740993", "meta": "{\"k\": [1]}"}),
            json!({"id": 7, "email": "new2@x.com", "balance": "5", "meta": null}),
        ]
    );
    assert_eq!(
        e.error("mutation { insertIntoaccountCollection(objects: []) { affectedCount } }")
            .await,
        "At least one record must be provided to objects"
    );
    let msg = e
        .error(r#"mutation { insertIntoaccountCollection(objects: [{emial: "x"}]) { affectedCount } }"#)
        .await;
    assert!(
        msg.starts_with("Input for type accountInsertInput contains extra keys [\"emial\"]"),
        "{msg}"
    );
    assert!(msg.contains("Did you mean \"email\""), "{msg}");
    let msg = e
        .error(r#"mutation { insertIntoaccountCollection(objects: [{email: "waytoolongforvarchar20@x.com"}]) { affectedCount } }"#)
        .await;
    assert_eq!(
        msg,
        "Invalid input for String type. Maximum character length 20"
    );
}

#[tokio::test]
async fn update_and_delete_respect_at_most_and_roll_back() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            r#"mutation { updateblogCollection(set: { description: "x" }, filter: { owner_id: { eq: 1 } }, atMost: 5) {
                affectedCount records { id description }
            } }"#,
            json!({}),
        )
        .await;
    assert!(out.get("errors").is_none(), "{out}");
    assert_eq!(out["data"]["updateblogCollection"]["affectedCount"], 2);

    // exceeding atMost (default 1) fails and rolls back the earlier field too
    let out = e
        .run(
            "anon",
            r#"mutation {
                a: updateblogCollection(set: { name: "renamed" }, filter: { id: { eq: 3 } }) { affectedCount }
                b: deleteFromblog_postCollection(filter: { blog_id: { eq: 1 } }) { affectedCount }
            }"#,
            json!({}),
        )
        .await;
    assert_eq!(out["data"], json!(null));
    assert_eq!(
        out["errors"][0]["message"],
        "delete impacts too many records"
    );
    let data = e.data("{ blogByPk(id: 3) { name } }").await;
    assert_eq!(data["blogByPk"]["name"], "B: Blog 3");
    assert_eq!(
        e.data("{ blog_postCollection { edges { cursor } } }").await["blog_postCollection"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let out = e
        .run(
            "anon",
            r#"mutation { deleteFromblog_postCollection(filter: { title: { eq: "post two" } }) {
                affectedCount records { title blog { name } }
            } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"deleteFromblog_postCollection": {
            "affectedCount": 1,
            "records": [{"title": "post two", "blog": {"name": "A: Blog 1"}}]
        }}})
    );
    assert_eq!(
        e.error("mutation { updateblogCollection(set: {}) { affectedCount } }")
            .await,
        "At least one mapping must be provided to set argument"
    );
}

#[tokio::test]
async fn database_errors_come_back_as_messages() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            r#"mutation { insertIntoblogCollection(objects: [{ owner_id: 99, name: "x" }]) { affectedCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(out["data"], json!(null));
    let msg = out["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("violates foreign key constraint"), "{msg}");
}

#[tokio::test]
async fn insert_on_conflict_updates_or_skips() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            r#"mutation {
                insertIntoblogCollection(
                    objects: [{ id: 1, owner_id: 1, name: "replaced" }, { id: 10, owner_id: 2, name: "fresh" }]
                    onConflict: { constraint: blog_pkey, updateFields: [name] }
                ) { affectedCount records { id name } }
            }"#,
            json!({}),
        )
        .await;
    assert!(out.get("errors").is_none(), "{out}");
    assert_eq!(out["data"]["insertIntoblogCollection"]["affectedCount"], 2);
    let data = e
        .data(r#"{ __type(name: "blogOnConflict") { name } }"#)
        .await;
    assert_eq!(data, json!({"__type": {"name": "blogOnConflict"}}));
    let data = e.data("{ blogByPk(id: 1) { name } }").await;
    assert_eq!(data["blogByPk"]["name"], "replaced");
    // do nothing; and a filter that keeps the existing row
    let out = e
        .run(
            "anon",
            r#"mutation {
                a: insertIntoblogCollection(objects: [{ id: 2, owner_id: 1, name: "x" }],
                    onConflict: { constraint: blog_pkey, updateFields: [] }) { affectedCount }
                b: insertIntoblogCollection(objects: [{ id: 3, owner_id: 1, name: "y" }],
                    onConflict: { constraint: blog_pkey, updateFields: [name], filter: { name: { eq: "nope" } } }) { affectedCount }
            }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"a": {"affectedCount": 0}, "b": {"affectedCount": 0}}})
    );
    let data = e
        .data("{ blogCollection { edges { node { id name } } } }")
        .await;
    assert_eq!(
        data["blogCollection"]["edges"][1]["node"]["name"],
        "A: Blog 2"
    );
    assert_eq!(
        data["blogCollection"]["edges"][2]["node"]["name"],
        "B: Blog 3"
    );
}

fn refusal(field: &str, verb: &str) -> String {
    format!(
        "{field} requires a filter: without one (or with an empty one) it would {verb} every \
         record. Add a filter argument that selects the records to {verb} (atMost still limits \
         how many may change)"
    )
}

#[tokio::test]
async fn unfiltered_update_and_delete_are_refused() {
    let e = env().await;
    let delete = refusal("deleteFromblog_postCollection", "delete");
    for q in [
        "mutation { deleteFromblog_postCollection(atMost: 10) { affectedCount } }",
        "mutation { deleteFromblog_postCollection(filter: {}, atMost: 10) { affectedCount } }",
        "mutation { deleteFromblog_postCollection(filter: { title: null, and: [] }, atMost: 10) { affectedCount } }",
        "mutation { deleteFromblog_postCollection(filter: { or: [{}] }, atMost: 10) { affectedCount } }",
        "mutation { x: deleteFromblog_postCollection { affectedCount } }",
    ] {
        assert_eq!(e.error(q).await, delete, "{q}");
    }
    // variables: an empty filter, and an unset one
    let q = "mutation($f: blog_postFilter) { deleteFromblog_postCollection(filter: $f, atMost: 10) { affectedCount } }";
    for vars in [json!({"f": {}}), json!({})] {
        let out = e.run("anon", q, vars).await;
        assert_eq!(out["data"], json!(null), "{out}");
        assert_eq!(out["errors"][0]["message"], json!(delete), "{out}");
    }
    let out = e
        .run(
            "anon",
            r#"mutation { updateblogCollection(set: { name: "all" }, atMost: 10) { affectedCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        // pg_graphql's errors carry only a message
        json!({"data": null, "errors": [{
            "message": refusal("updateblogCollection", "update")
        }]})
    );
    // nothing was written; a filtered delete still works
    let data = e
        .data("{ blogCollection { edges { node { name } } } blog_postCollection { edges { cursor } } }")
        .await;
    assert_eq!(
        data["blogCollection"]["edges"][0]["node"]["name"],
        "A: Blog 1"
    );
    assert_eq!(
        data["blog_postCollection"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let data = e
        .data(r#"mutation { deleteFromblog_postCollection(filter: { rank: { is: NULL } }) { affectedCount } }"#)
        .await;
    assert_eq!(data["deleteFromblog_postCollection"]["affectedCount"], 1);
}

#[tokio::test]
async fn unfiltered_writes_run_when_safe_update_is_off() {
    let mut e = env().await;
    e.state.safe_update = false;
    // atMost still applies
    let msg = e
        .error("mutation { deleteFromblog_postCollection { affectedCount } }")
        .await;
    assert_eq!(msg, "delete impacts too many records");
    let data = e
        .data(r#"mutation { updateblog_postCollection(set: { rank: 7 }, atMost: 3) { affectedCount } }"#)
        .await;
    assert_eq!(data["updateblog_postCollection"]["affectedCount"], 3);
    let data = e
        .data("mutation { deleteFromblog_postCollection(filter: {}, atMost: 3) { affectedCount } }")
        .await;
    assert_eq!(data["deleteFromblog_postCollection"]["affectedCount"], 3);
}

/// Without `graphql_upsert` the schema is pg_graphql's: no `onConflict` argument and none of
/// the types it needs.
#[tokio::test]
async fn upsert_is_off_unless_turned_on() {
    let mut e = env().await;
    e.state.upsert = false;
    let msg = e
        .error(
            r#"mutation { insertIntoblogCollection(objects: [{ id: 1, owner_id: 1, name: "x" }],
                onConflict: { constraint: blog_pkey, updateFields: [name] }) { affectedCount } }"#,
        )
        .await;
    assert!(msg.contains("onConflict"), "{msg}");
    let data = e
        .data(r#"{ a: __type(name: "blogOnConflict") { name } b: __type(name: "blogUpdateField") { name } }"#)
        .await;
    assert_eq!(data, json!({"a": null, "b": null}));
}

/// Inputs pg_graphql refuses (its type_bigfloat and type_modifier_max_length suites): a
/// number for a BigFloat, and a string longer than a varchar(n) takes, in a filter, an
/// insert or an update.
#[tokio::test]
async fn bigfloat_numbers_and_overlong_strings_are_refused() {
    let e = common::env().await;
    let big = "Invalid input for BigFloat type. String required";
    let long = "Invalid input for String type. Maximum character length 20";
    for (query, message) in [
        (
            r#"mutation { insertIntoaccountCollection(objects: [{ email: "a@x.com", score: 1.5 }]) { affectedCount } }"#,
            big,
        ),
        (
            "{ accountCollection(filter: { score: { lt: 9999 } }) { edges { cursor } } }",
            big,
        ),
        (
            r#"mutation { insertIntoaccountCollection(objects: [{ email: "aaaaaaaaaaaaaaaaaaaaa" }]) { affectedCount } }"#,
            long,
        ),
        (
            r#"{ accountCollection(filter: { email: { eq: "aaaaaaaaaaaaaaaaaaaaa" } }) { edges { cursor } } }"#,
            long,
        ),
        (
            r#"{ accountCollection(filter: { email: { in: ["a", "aaaaaaaaaaaaaaaaaaaaa"] } }) { edges { cursor } } }"#,
            long,
        ),
        (
            r#"mutation { updateaccountCollection(set: { email: "aaaaaaaaaaaaaaaaaaaaa" }, filter: { id: { eq: 1 } }) { affectedCount } }"#,
            long,
        ),
    ] {
        let out = e.run("anon", query, json!({})).await;
        assert_eq!(
            out,
            json!({"data": null, "errors": [{"message": message}]}),
            "{query}"
        );
    }
    // a string is fine, and 20 characters (not bytes) fit
    let data = e
        .data(r#"{ accountCollection(filter: { score: { lt: "9999" }, email: { neq: "éééééééééééééééééééé" } }) { edges { cursor } } }"#)
        .await;
    assert_eq!(
        data["accountCollection"]["edges"].as_array().map(Vec::len),
        Some(5)
    );
}
