//! Golden tests of the GraphQL pipeline without a database: each document is reflected against
//! the fixture schema (`pgbase-testkit/golden/`) as the `authenticated` role, planned, and every
//! top-level field's statement (or its error, or the value answered in Rust) compared with a
//! checked-in snapshot under `tests/snapshots/`.
//!
//! Refresh after an intended change: `INSTA_UPDATE=always cargo test -p pgbase-graphql --test
//! golden` (or `cargo insta review`), then read the diff before committing.

use pgbase_graphql::engine::{Options, plan_with};
use pgbase_graphql::reflect::reflect;
use pgbase_graphql::{Planned, Request};
use serde_json::{Value, json};

fn cases() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "collection_first_page",
            "{ authorsCollection(first: 2) { edges { node { id name } } pageInfo { hasNextPage endCursor } } }",
            Value::Null,
        ),
        (
            "collection_filter_order",
            r#"{ postsCollection(filter: {status: {eq: published}, title: {ilike: "%rust%"}}, orderBy: [{id: DescNullsLast}]) { totalCount edges { node { id title } } } }"#,
            Value::Null,
        ),
        (
            "collection_or_filter_variables",
            "query Q($ids: [BigInt!]) { postsCollection(filter: {or: [{id: {in: $ids}}, {publishedAt: {is: NULL}}]}) { edges { node { id } } } }",
            json!({"ids": ["1", "2"]}),
        ),
        (
            "nested_to_one_and_to_many",
            "{ postsCollection { edges { node { title author { name } commentsCollection(first: 3) { edges { node { body } } } } } } }",
            Value::Null,
        ),
        (
            "many_to_many_through_junction",
            "{ postsCollection { edges { node { id postTagsCollection { edges { node { tag { name } } } } } } } }",
            Value::Null,
        ),
        (
            "after_cursor",
            r#"{ authorsCollection(first: 1, after: "WzFd") { edges { cursor node { id } } } }"#,
            Value::Null,
        ),
        (
            "node_id_and_typename",
            "{ authorsCollection { edges { node { __typename nodeId } } } }",
            Value::Null,
        ),
        (
            "insert",
            r#"mutation { insertIntoAuthorsCollection(objects: [{name: "Ann"}, {name: "Bo", email: "bo@example.com"}]) { affectedCount records { id name } } }"#,
            Value::Null,
        ),
        (
            "upsert_on_conflict",
            r#"mutation { insertIntoAuthorsCollection(objects: [{name: "Ann", email: "ann@example.com"}], onConflict: {constraint: authors_email_key, updateFields: [name], filter: {id: {gt: 0}}}) { affectedCount records { id name } } }"#,
            Value::Null,
        ),
        (
            "insert_on_conflict_do_nothing",
            r#"mutation { insertIntoTagsCollection(objects: [{name: "rust"}], onConflict: {constraint: tags_name_key, updateFields: []}) { affectedCount } }"#,
            Value::Null,
        ),
        (
            "update_filtered",
            r#"mutation { updatePostsCollection(set: {title: "New"}, filter: {id: {eq: 1}}, atMost: 1) { affectedCount records { id title } } }"#,
            Value::Null,
        ),
        (
            "delete_filtered",
            "mutation { deleteFromCommentsCollection(filter: {postId: {eq: 1}}, atMost: 10) { affectedCount } }",
            Value::Null,
        ),
        (
            "function_query",
            r#"{ searchPosts(q: "rust", first: 2) { edges { node { id title } } } }"#,
            Value::Null,
        ),
        (
            "function_mutation",
            "mutation { publish(postId: 1) { id status } }",
            Value::Null,
        ),
        (
            "computed_field",
            "{ postsCollection { edges { node { id titleLength } } } }",
            Value::Null,
        ),
        (
            "error_unknown_field",
            "{ authorsCollection { edges { node { nmae } } } }",
            Value::Null,
        ),
        (
            "error_unfiltered_delete",
            "mutation { deleteFromCommentsCollection { affectedCount } }",
            Value::Null,
        ),
        ("error_parse", "{ authorsCollection { edges ", Value::Null),
    ]
}

fn render(query: &str, variables: Value) -> String {
    let cache = pgbase_testkit::golden::schema_cache();
    let schema = reflect(
        &cache,
        &pgbase_testkit::golden::exposed_schemas(),
        "authenticated",
        true,
        // upserts (`graphql_upsert`) only where a document asks for one
        query.contains("onConflict"),
    )
    .expect("the fixture schema reflects");
    let request = Request {
        query: query.to_string(),
        variables: (!variables.is_null()).then_some(variables.clone()),
        operation_name: None,
        read_only: false,
    };
    let mut out = format!("{query}\n");
    if !variables.is_null() {
        out += &format!("variables: {variables}\n");
    }
    out += "---\n";
    match plan_with(&schema, &request, Options::default()) {
        Err(errors) => {
            for error in errors {
                out += &format!("error: {error}\n");
            }
        }
        Ok(plan) => {
            for error in &plan.errors {
                out += &format!("operation error: {error}\n");
            }
            for (key, planned) in &plan.fields {
                match planned {
                    Planned::Value(value) => out += &format!("{key}: value {value}\n"),
                    Planned::Failed(error) => out += &format!("{key}: error {error}\n"),
                    Planned::Sql(job) => {
                        let (sql, params) = job.sql.render();
                        let params: Vec<_> = params.into_iter().map(|p| p.0).collect();
                        out += &format!("{key}:\n{sql}\n\nparams: {params:?}\n");
                        if let Some((limit, what)) = job.at_most {
                            out += &format!("at most: {limit} ({what})\n");
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn graphql_documents_plan_to_the_checked_in_sql() {
    for (name, query, variables) in cases() {
        insta::assert_snapshot!(format!("graphql_{name}"), render(query, variables));
    }
}
