//! Golden tests of the REST pipeline without a database: each request is parsed, planned against
//! the fixture schema (`pgbase-testkit/golden/`) and rendered to its one statement, and the SQL,
//! its bind parameters and the transaction mode are compared with a checked-in snapshot under
//! `tests/snapshots/`. A change to the planner or the emitter shows up here as a reviewable diff.
//!
//! Refresh after an intended change: `INSTA_UPDATE=always cargo test -p pgbase-rest --test golden`
//! (or `cargo insta review`), then read the diff before committing.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pgbase_rest::handler::{RestResponse, plan_statement};
use pgbase_rest::request::RequestConfig;

/// One request: method, path with query string, headers, body.
struct Case {
    name: &'static str,
    method: Method,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const fn get(name: &'static str, target: &'static str) -> Case {
    Case {
        name,
        method: Method::GET,
        target,
        headers: &[],
        body: "",
    }
}

const fn with(
    name: &'static str,
    method: Method,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Case {
    Case {
        name,
        method,
        target,
        headers,
        body,
    }
}

const REPRESENTATION: &[(&str, &str)] = &[("prefer", "return=representation")];

fn cases() -> Vec<Case> {
    vec![
        get("read_all", "/authors"),
        get(
            "read_filter_order_page",
            "/authors?select=id,name&name=eq.Ann&order=id.desc.nullslast&limit=10&offset=5",
        ),
        get(
            "read_or_and",
            "/posts?select=id&or=(status.eq.draft,and(title.ilike.*rust*,id.gt.3))",
        ),
        get("read_array_contains", "/posts?select=id&tags=cs.{a,b}"),
        get(
            "read_in_is_null",
            "/posts?select=id&published_at=is.null&status=in.(draft,archived)",
        ),
        get(
            "read_fts",
            "/posts?select=id&title=plfts(english).rust%20async",
        ),
        get(
            "read_json_path",
            "/authors?select=id,twitter:bio->social->>twitter&bio->>lang=eq.en",
        ),
        get("read_cast", "/posts?select=id::text,created_at::date"),
        get(
            "read_computed_column",
            "/posts?select=id,title_length&title_length=gt.10",
        ),
        get(
            "embed_to_one_by_fk_column",
            "/posts?select=title,authors!author_id(name)",
        ),
        get(
            "embed_to_one_by_fk_name",
            "/posts?select=title,editor:authors!posts_editor_id_fkey(name)",
        ),
        get(
            "embed_to_many_ordered_limited",
            "/posts?select=title,comments(body)&comments.order=id.desc&comments.limit=2",
        ),
        get("embed_many_to_many", "/posts?select=id,tags(name)"),
        get(
            "embed_inner_filtered",
            "/authors?select=id,posts!posts_author_id_fkey!inner(id)&posts.status=eq.published",
        ),
        get(
            "embed_self_reference",
            "/comments?select=id,replies:comments!parent_id(id,body)",
        ),
        get(
            "embed_self_reference_parent",
            "/comments?select=id,parent:parent_id(id,body)",
        ),
        get(
            "embed_spread",
            "/posts?select=id,...authors!author_id(author_name:name)",
        ),
        get("embed_view", "/published_posts?select=title,authors(name)"),
        get("aggregate_count_grouped", "/posts?select=author_id,count()"),
        get(
            "aggregate_sum_avg",
            "/posts?select=status,id.sum(),id.avg()",
        ),
        with(
            "read_single_object",
            Method::GET,
            "/authors?id=eq.1",
            &[("accept", "application/vnd.pgrst.object+json")],
            "",
        ),
        with(
            "read_csv",
            Method::GET,
            "/authors?select=id,name",
            &[("accept", "text/csv")],
            "",
        ),
        with(
            "read_exact_count_range",
            Method::GET,
            "/authors?select=id",
            &[("prefer", "count=exact"), ("range", "0-9")],
            "",
        ),
        with(
            "head_count",
            Method::HEAD,
            "/authors",
            &[("prefer", "count=exact")],
            "",
        ),
        with(
            "insert_one",
            Method::POST,
            "/authors",
            REPRESENTATION,
            r#"{"name":"Ann"}"#,
        ),
        with(
            "insert_many_columns",
            Method::POST,
            "/authors?columns=name,email&select=id",
            REPRESENTATION,
            r#"[{"name":"Ann"},{"name":"Bo","email":"bo@example.com"}]"#,
        ),
        with(
            "upsert_on_conflict",
            Method::POST,
            "/authors?on_conflict=email",
            &[("prefer", "resolution=merge-duplicates,return=minimal")],
            r#"{"name":"Ann","email":"ann@example.com"}"#,
        ),
        with(
            "insert_missing_default_groups",
            Method::POST,
            "/authors?columns=name,email",
            &[("prefer", "missing=default,return=minimal")],
            r#"[{"name":"Ann"},{"name":"Bo","email":"bo@example.com"},{"name":"Cy"}]"#,
        ),
        with(
            "update_missing_default",
            Method::PATCH,
            "/authors?id=eq.1&columns=name,email",
            &[("prefer", "missing=default,return=headers-only")],
            r#"{"name":"Ann"}"#,
        ),
        with(
            "update_nothing_to_set",
            Method::PATCH,
            "/authors?id=eq.1",
            &[("prefer", "return=representation")],
            "{}",
        ),
        with(
            "upsert_ignore",
            Method::POST,
            "/tags",
            &[("prefer", "resolution=ignore-duplicates")],
            r#"[{"id":1,"name":"rust"}]"#,
        ),
        with(
            "update_filtered",
            Method::PATCH,
            "/posts?id=eq.1",
            &[("prefer", "return=minimal")],
            r#"{"title":"New"}"#,
        ),
        with(
            "update_limited_ordered",
            Method::PATCH,
            "/posts?status=eq.draft&order=id&limit=5",
            REPRESENTATION,
            r#"{"status":"archived"}"#,
        ),
        with(
            "delete_returning",
            Method::DELETE,
            "/comments?post_id=eq.1&select=id",
            REPRESENTATION,
            "",
        ),
        with(
            "put_single_row",
            Method::PUT,
            "/tags?id=eq.1",
            &[],
            r#"{"id":1,"name":"rust"}"#,
        ),
        get("rpc_get_scalar", "/rpc/add?a=1&b=2"),
        with(
            "rpc_post_setof_with_select",
            Method::POST,
            "/rpc/search_posts?select=id,title&order=id&limit=3",
            &[],
            r#"{"q":"rust"}"#,
        ),
        with(
            "rpc_post_returns_row",
            Method::POST,
            "/rpc/publish",
            &[],
            r#"{"post_id":1}"#,
        ),
        with(
            "rpc_rollback",
            Method::POST,
            "/rpc/publish",
            &[("prefer", "tx=rollback")],
            r#"{"post_id":1}"#,
        ),
        // Requests refused before any SQL is built.
        get("error_unknown_table", "/athors"),
        get("error_unknown_embed", "/posts?select=id,reviewers(id)"),
        get("error_ambiguous_embed", "/posts?select=id,authors(name)"),
        get("error_bad_operator", "/authors?id=equals.1"),
        get("error_unknown_function", "/rpc/ad?a=1"),
        with(
            "error_unfiltered_delete",
            Method::DELETE,
            "/comments",
            &[],
            "",
        ),
    ]
}

fn render(case: &Case, config: &RequestConfig) -> String {
    let cache = pgbase_testkit::golden::schema_cache();
    let (path, query) = match case.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (case.target, None),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in case.headers {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let mut out = format!("{} {}\n", case.method, case.target);
    for (name, value) in case.headers {
        out += &format!("{name}: {value}\n");
    }
    if !case.body.is_empty() {
        out += &format!("body: {}\n", case.body);
    }
    out += "---\n";
    match plan_statement(
        config,
        &cache,
        Some(1000),
        &case.method,
        path,
        query,
        &headers,
        Bytes::from_static(case.body.as_bytes()),
    ) {
        Ok(statement) => {
            out += &format!(
                "{}\n\nread_only: {}\nparams: {:?}\n",
                statement.sql, statement.read_only, statement.params
            );
        }
        Err(error) => {
            let response = RestResponse::from_error(&error);
            out += &format!(
                "error {}: {}\n",
                response.status.as_u16(),
                String::from_utf8_lossy(&response.body)
            );
        }
    }
    out
}

#[test]
fn rest_requests_plan_to_the_checked_in_sql() {
    let config = RequestConfig {
        safe_update: true,
        ..RequestConfig::default()
    };
    for case in cases() {
        insta::assert_snapshot!(format!("rest_{}", case.name), render(&case, &config));
    }
}
