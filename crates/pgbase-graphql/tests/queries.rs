//! Query behaviour against a real Postgres: collections, pagination, cursors, filters,
//! ordering, relationships, scalars, nodeId, byPk, fragments, variables.

mod common;

use common::env;
use serde_json::json;

#[tokio::test]
async fn collection_with_node_ids_cursors_and_scalars() {
    let e = env().await;
    let data = e
        .data(
            r#"{ accountCollection(first: 1) {
                edges { cursor node { nodeId id email created_at balance score meta tags } }
            } }"#,
        )
        .await;
    let edge = &data["accountCollection"]["edges"][0];
    assert_eq!(edge["cursor"], "WzFd");
    let node = &edge["node"];
    assert_eq!(node["nodeId"], "WyJwdWJsaWMiLCAiYWNjb3VudCIsIDFd");
    assert_eq!(node["id"], 1);
    assert_eq!(node["email"], "aardvark@x.com");
    assert_eq!(node["created_at"], "2024-01-02T03:04:05+00:00");
    assert_eq!(node["balance"], "9007199254740993");
    assert_eq!(node["score"], "1.50");
    assert_eq!(node["meta"], "{\"a\": 1}");
    assert_eq!(node["tags"], json!(["x", "y"]));
}

#[tokio::test]
async fn default_order_is_primary_key_and_pages_link_up() {
    let e = env().await;
    let page1 = e
        .data(
            r#"{ accountCollection(first: 2) {
                totalCount
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                edges { node { id } }
            } }"#,
        )
        .await;
    let c = &page1["accountCollection"];
    assert_eq!(c["totalCount"], 5);
    assert_eq!(
        c["edges"],
        json!([{"node": {"id": 1}}, {"node": {"id": 2}}])
    );
    assert_eq!(c["pageInfo"]["hasNextPage"], true);
    assert_eq!(c["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(c["pageInfo"]["startCursor"], "WzFd");
    let end = c["pageInfo"]["endCursor"].as_str().unwrap().to_string();

    let page2 = e
        .data(&format!(
            r#"{{ accountCollection(first: 2, after: "{end}") {{
                pageInfo {{ hasNextPage hasPreviousPage }}
                edges {{ node {{ id }} }}
            }} }}"#
        ))
        .await;
    let c = &page2["accountCollection"];
    assert_eq!(
        c["edges"],
        json!([{"node": {"id": 3}}, {"node": {"id": 4}}])
    );
    assert_eq!(c["pageInfo"]["hasNextPage"], true);
    assert_eq!(c["pageInfo"]["hasPreviousPage"], true);

    let last = e
        .data(
            r#"{ accountCollection(last: 2) {
                pageInfo { hasNextPage hasPreviousPage startCursor }
                edges { node { id } }
            } }"#,
        )
        .await;
    let c = &last["accountCollection"];
    assert_eq!(
        c["edges"],
        json!([{"node": {"id": 4}}, {"node": {"id": 5}}])
    );
    assert_eq!(c["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(c["pageInfo"]["hasNextPage"], false);
    let start = c["pageInfo"]["startCursor"].as_str().unwrap().to_string();
    let before = e
        .data(&format!(
            r#"{{ accountCollection(last: 2, before: "{start}") {{
                pageInfo {{ hasNextPage hasPreviousPage }}
                edges {{ node {{ id }} }} }} }}"#
        ))
        .await;
    let c = &before["accountCollection"];
    assert_eq!(
        c["edges"],
        json!([{"node": {"id": 2}}, {"node": {"id": 3}}])
    );
    assert_eq!(c["pageInfo"]["hasNextPage"], true);
    assert_eq!(c["pageInfo"]["hasPreviousPage"], true);

    let offset = e
        .data("{ accountCollection(first: 1, offset: 3) { edges { node { id } } pageInfo { hasPreviousPage } } }")
        .await;
    assert_eq!(offset["accountCollection"]["edges"][0]["node"]["id"], 4);
    assert_eq!(
        offset["accountCollection"]["pageInfo"]["hasPreviousPage"],
        true
    );
}

#[tokio::test]
async fn pagination_argument_errors() {
    let e = env().await;
    assert_eq!(
        e.error("{ accountCollection(first: 1, last: 1) { edges { cursor } } }")
            .await,
        "only one of \"first\" and \"last\" may be provided"
    );
    assert_eq!(
        e.error("{ accountCollection(first: 1, before: \"WzFd\") { edges { cursor } } }")
            .await,
        "\"first\" may only be used with \"after\""
    );
    assert_eq!(
        e.error("{ accountCollection(first: -1) { edges { cursor } } }")
            .await,
        "`first` must be an unsigned integer"
    );
    assert_eq!(
        e.error("{ accountCollection(after: \"WzEsMl0=\") { edges { cursor } } }")
            .await,
        "orderBy clause incompatible with pagination cursor"
    );
}

#[tokio::test]
async fn page_size_defaults_to_30_and_caps_first() {
    let e = env().await;
    e.sql("insert into account (email) select 'u' || g || '@x' from generate_series(1, 40) g")
        .await;
    let data = e
        .data("{ a: accountCollection { edges { node { id } } } b: accountCollection(first: 100) { edges { node { id } } } }")
        .await;
    assert_eq!(data["a"]["edges"].as_array().unwrap().len(), 30);
    assert_eq!(data["b"]["edges"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn filters_combine_with_and_or_not() {
    let e = env().await;
    let ids = |v: &serde_json::Value, coll: &str| -> Vec<i64> {
        v[coll]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_i64().unwrap())
            .collect()
    };
    let cases = [
        (r#"{ id: { eq: 2 } }"#, vec![2]),
        (r#"{ id: { neq: 2 } }"#, vec![1, 3, 4, 5]),
        (r#"{ id: { gt: 2, lte: 4 } }"#, vec![3, 4]),
        (r#"{ id: { in: [1, 5] } }"#, vec![1, 5]),
        (r#"{ email: { like: "%a%" } }"#, vec![1, 2, 3, 5]),
        (r#"{ email: { ilike: "B%" } }"#, vec![2]),
        (r#"{ email: { startsWith: "d" } }"#, vec![4]),
        (r#"{ email: { regex: "^c" } }"#, vec![3]),
        (r#"{ tags: { is: NULL } }"#, vec![2, 4, 5]),
        (r#"{ tags: { contains: ["y"] } }"#, vec![1, 3]),
        (r#"{ tags: { contains: "x" } }"#, vec![1]),
        (r#"{ tags: { overlaps: ["x", "q"] } }"#, vec![1]),
        (
            r#"{ or: [{ id: { eq: 1 } }, { id: { eq: 3 } }] }"#,
            vec![1, 3],
        ),
        (
            r#"{ and: [{ id: { gt: 1 } }, { id: { lt: 3 } }] }"#,
            vec![2],
        ),
        (r#"{ not: { id: { lt: 4 } } }"#, vec![4, 5]),
        (r#"{ and: [], or: [], not: {} }"#, vec![1, 2, 3, 4, 5]),
        (
            r#"{ balance: { eq: "9007199254740993" }, id: { lt: 2 } }"#,
            vec![1],
        ),
        (
            r#"{ nodeId: { eq: "WyJwdWJsaWMiLCAiYWNjb3VudCIsIDFd" } }"#,
            vec![1],
        ),
    ];
    for (filter, expected) in cases {
        let q =
            format!("{{ accountCollection(filter: {filter}) {{ edges {{ node {{ id }} }} }} }}");
        let out = e.run("anon", &q, json!({})).await;
        assert!(out.get("errors").is_none(), "{filter}: {out}");
        assert_eq!(ids(&out["data"], "accountCollection"), expected, "{filter}");
    }
    // enum filter
    let data = e
        .data(r#"{ blog_postCollection(filter: { status: { eq: published } }) { edges { node { title status } } } }"#)
        .await;
    assert_eq!(
        data["blog_postCollection"]["edges"],
        json!([{"node": {"title": "post one", "status": "published"}}])
    );
    assert_eq!(
        e.error(r#"{ blogCollection(filter: { nodeId: { eq: "WyJwdWJsaWMiLCAiYWNjb3VudCIsIDFd" } }) { edges { cursor } } }"#)
            .await,
        "nodeId belongs to a different collection"
    );
}

#[tokio::test]
async fn order_by_with_nulls_and_primary_key_tie_break() {
    let e = env().await;
    let data = e
        .data(r#"{ blog_postCollection(orderBy: [{ rank: DescNullsFirst }]) { edges { cursor node { title } } } }"#)
        .await;
    let titles: Vec<&str> = data["blog_postCollection"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["post three", "post one", "post two"]);
    // the cursor holds the order column and the primary key
    let cursor = data["blog_postCollection"]["edges"][1]["cursor"]
        .as_str()
        .unwrap();
    let after = e
        .data(&format!(
            r#"{{ blog_postCollection(orderBy: [{{ rank: DescNullsFirst }}], after: "{cursor}") {{ edges {{ node {{ title }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        after["blog_postCollection"]["edges"],
        json!([{"node": {"title": "post two"}}])
    );
    // ties broken by the primary key
    let data = e
        .data(r#"{ blogCollection(orderBy: [{ owner_id: DescNullsLast }]) { edges { node { id } } } }"#)
        .await;
    assert_eq!(
        data["blogCollection"]["edges"],
        json!([{"node": {"id": 3}}, {"node": {"id": 1}}, {"node": {"id": 2}}])
    );
}

#[tokio::test]
async fn relationships_many_to_one_and_one_to_many() {
    let e = env().await;
    let data = e
        .data(
            r#"{ blogCollection(first: 1) { edges { node {
                name
                account { email }
                blog_postCollection(orderBy: [{ title: AscNullsLast }]) {
                    edges { node { title blog { id } } }
                }
            } } } }"#,
        )
        .await;
    let node = &data["blogCollection"]["edges"][0]["node"];
    assert_eq!(node["account"]["email"], "aardvark@x.com");
    assert_eq!(
        node["blog_postCollection"]["edges"],
        json!([
            {"node": {"title": "post one", "blog": {"id": 1}}},
            {"node": {"title": "post two", "blog": {"id": 1}}}
        ])
    );
    let data = e
        .data("{ accountCollection(filter: {id: {eq: 2}}) { edges { node { blogCollection(first: 5) { edges { node { name } } } } } } }")
        .await;
    assert_eq!(
        data["accountCollection"]["edges"][0]["node"]["blogCollection"]["edges"],
        json!([{"node": {"name": "B: Blog 3"}}])
    );
}

#[tokio::test]
async fn by_pk_and_node() {
    let e = env().await;
    let data = e
        .data(r#"{ blogByPk(id: 2) { name } missing: blogByPk(id: 99) { name } }"#)
        .await;
    assert_eq!(data["blogByPk"]["name"], "A: Blog 2");
    assert_eq!(data["missing"], json!(null));
    let data = e
        .data(
            r#"{ node(nodeId: "WyJwdWJsaWMiLCAiYmxvZyIsIDFd") {
                nodeId __typename
                ... on blog { name }
                ... on account { email }
            } }"#,
        )
        .await;
    assert_eq!(
        data["node"],
        json!({"nodeId": "WyJwdWJsaWMiLCAiYmxvZyIsIDFd", "__typename": "blog", "name": "A: Blog 1"})
    );
}

#[tokio::test]
async fn variables_fragments_aliases_and_directives() {
    let e = env().await;
    let out = e
        .run(
            "anon",
            r#"query Q($id: Int!, $withEmail: Boolean!, $skipId: Boolean = true) {
                __typename
                first: accountCollection(filter: { id: { eq: $id } }) {
                    __typename
                    edges { node { ...F id @skip(if: $skipId) } }
                }
            }
            fragment F on account { email @include(if: $withEmail) idAlias: id }"#,
            json!({"id": 3, "withEmail": true}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": {"__typename": "Query", "first": {
            "__typename": "accountConnection",
            "edges": [{"node": {"email": "cat@x.com", "idAlias": 3}}]
        }}})
    );
    let out = e
        .run(
            "anon",
            "query Q($id: Int!) { blogByPk(id: $id) { id } }",
            json!({}),
        )
        .await;
    // as in pg_graphql, a missing variable is reported by the argument that needs it
    assert_eq!(
        out,
        json!({"data": null, "errors": [{"message": "Missing primary key column(s): id"}]})
    );
}

#[tokio::test]
async fn aggregates_are_opt_in() {
    let e = common::env_with(
        r#"comment on table blog_post is e'@graphql({"aggregate": {"enabled": true}})';"#,
    )
    .await;
    let data = e
        .data(
            r#"{ blog_postCollection(filter: { blog_id: { eq: 1 } }, first: 1) {
                aggregate { count sum { rank } avg { rank } min { rank title } max { rank title } }
                edges { node { title } }
            } }"#,
        )
        .await;
    assert_eq!(
        data["blog_postCollection"]["aggregate"],
        json!({"count": 2, "sum": {"rank": 4}, "avg": {"rank": 2.0},
               "min": {"rank": 1, "title": "post one"}, "max": {"rank": 3, "title": "post two"}})
    );
    assert_eq!(
        e.error("{ blogCollection { aggregate { count } } }").await,
        "enable the aggregate directive to use aggregates"
    );
}

/// pg_graphql writes every aggregate as a JSON number (its `aggregate.sql`: `"sum": {"id": 10}`,
/// `"avg": {"id": 2.5}`, `"avg": {"id": 2.0}`), bigint and numeric columns included.
#[tokio::test]
async fn aggregates_are_json_numbers() {
    let e = common::env_with(
        r#"comment on table account is e'@graphql({"aggregate": {"enabled": true}})';
           update account set score = 1.25 where id = 1;"#,
    )
    .await;
    let query = r#"{
        all: accountCollection { aggregate { count sum { id score } avg { id score }
                                            min { balance score } max { balance } } }
        some: accountCollection(filter: { id: { lt: 3 } }) { aggregate { avg { id } } }
        none: accountCollection(filter: { id: { gt: 100 } }) {
            aggregate { count sum { id } avg { id } min { id } max { email } } }
    }"#;
    let request = pgbase_graphql::Request {
        query: query.into(),
        ..Default::default()
    };
    let body = pgbase_graphql::execute(&e.state, "anon", &json!({"role": "anon"}), &request)
        .await
        .to_body();
    let out: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(out.get("errors").is_none(), "{body}");
    let all = &out["data"]["all"]["aggregate"];
    assert_eq!(all["count"], json!(5));
    assert_eq!(all["sum"]["id"], json!(15));
    assert_eq!(all["sum"]["score"].as_f64(), Some(7.25));
    assert_eq!(all["avg"]["score"].as_f64(), Some(1.45));
    assert_eq!(all["min"]["score"].as_f64(), Some(1.25));
    // bigint beyond 2^53 stays exact
    assert_eq!(all["min"]["balance"], json!(9007199254740993_u64));
    assert_eq!(all["max"]["balance"], json!(9007199254740993_u64));
    // an integral average is written as a double, as pg_graphql writes it
    let compact = body.replace(' ', "");
    assert!(
        compact.contains(r#""avg":{"id":3.0,"score":1.45}"#),
        "{body}"
    );
    assert!(
        compact.contains(r#""some":{"aggregate":{"avg":{"id":1.5}}}"#),
        "{body}"
    );
    assert_eq!(
        out["data"]["none"]["aggregate"],
        json!({"count": 0, "sum": {"id": null}, "avg": {"id": null}, "min": {"id": null},
               "max": {"email": null}})
    );
}

#[tokio::test]
async fn filter_by_related_tables_and_order_by_to_one() {
    let e = env().await;
    // blogs whose owner's email starts with "b"; accounts with a blog named like "A:%"
    let data = e
        .data(
            r#"{
                blogCollection(filter: { account: { email: { startsWith: "b" } } }) { edges { node { id } } }
                accountCollection(filter: { blogCollection: { name: { like: "A:%" } } }) { edges { node { id } } }
                none: accountCollection(filter: { not: { blogCollection: {} } }) { edges { node { id } } }
            }"#,
        )
        .await;
    assert_eq!(
        data["blogCollection"]["edges"],
        json!([{"node": {"id": 3}}])
    );
    assert_eq!(
        data["accountCollection"]["edges"],
        json!([{"node": {"id": 1}}])
    );
    assert_eq!(
        data["none"]["edges"].as_array().unwrap().len(),
        3,
        "accounts without blogs: {}",
        data["none"]
    );
    // order posts by their blog's name, descending; cursors keep working
    let data = e
        .data(r#"{ blog_postCollection(orderBy: [{ blog: { name: DescNullsLast } }], first: 2) { edges { cursor node { title } } } }"#)
        .await;
    let edges = data["blog_postCollection"]["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"]["title"], "post three");
    let cursor = edges[0]["cursor"].as_str().unwrap();
    let next = e
        .data(&format!(
            r#"{{ blog_postCollection(orderBy: [{{ blog: {{ name: DescNullsLast }} }}], after: "{cursor}") {{ edges {{ node {{ title }} }} }} }}"#
        ))
        .await;
    let titles: Vec<&str> = next["blog_postCollection"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["post one", "post two"]);
}

#[tokio::test]
async fn one_to_one_and_nullability_of_to_one_fields() {
    let e = common::env_with(
        "create table profile (account_id int primary key references account(id), bio text);
         insert into profile values (1, 'hi');
         create view boom as select 1 / (id - id) as id from account;
         comment on view boom is e'@graphql({\"primary_key_columns\": [\"id\"]})';",
    )
    .await;
    let data = e
        .data(
            "{ accountCollection(first: 2) { edges { node { profile { bio account { id } } } } } }",
        )
        .await;
    assert_eq!(
        data["accountCollection"]["edges"],
        json!([
            {"node": {"profile": {"bio": "hi", "account": {"id": 1}}}},
            {"node": {"profile": null}}
        ])
    );
    // to-one fields: non-null when the FK column is NOT NULL and the target has no RLS
    let data = e
        .data(r#"{ __type(name: "blog") { fields { name type { kind } } } }"#)
        .await;
    let kind = |name: &str| {
        data["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["type"]["kind"].clone())
            .unwrap()
    };
    assert_eq!(kind("account"), "NON_NULL");
    assert_eq!(kind("description"), "SCALAR");
    // a failing statement fails the request and leaves the pool usable
    for _ in 0..6 {
        let msg = e
            .error("{ boomCollection { edges { node { id } } } }")
            .await;
        assert_eq!(msg, "division by zero");
        let data = e.data("{ blogByPk(id: 1) { id } }").await;
        assert_eq!(data["blogByPk"]["id"], 1);
    }
}

/// More keys than one `json_build_object` call takes: the object is spliced together and
/// keeps the selection order.
#[tokio::test]
async fn wide_selections_keep_every_key_in_order() {
    let e = env().await;
    let fields: String = (0..95).map(|i| format!(" k{i}: name")).collect();
    let data = e
        .data(&format!("{{ blogByPk(id: 1) {{ {fields} __typename }} }}"))
        .await;
    let obj = data["blogByPk"].as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut expected: Vec<String> = (0..95).map(|i| format!("k{i}")).collect();
    expected.push("__typename".into());
    assert_eq!(keys, expected);
    assert_eq!(obj["k94"], "A: Blog 1");
    assert_eq!(obj["__typename"], "blog");
}

/// Nested connections: count and page info are per parent row, with and without the
/// numbered page (pageInfo) path.
#[tokio::test]
async fn nested_connections_count_and_page_per_parent() {
    let e = common::env_with(
        r#"comment on table blog is e'@graphql({"totalCount": {"enabled": true}})';"#,
    )
    .await;
    let data = e
        .data(
            r#"{ accountCollection(first: 3) { edges { node { id
                plain: blogCollection(first: 1) { totalCount edges { node { name } } }
                paged: blogCollection(first: 1) { totalCount pageInfo { hasNextPage } edges { cursor } }
            } } } }"#,
        )
        .await;
    assert_eq!(
        data["accountCollection"]["edges"],
        json!([
            {"node": {"id": 1,
                "plain": {"totalCount": 2, "edges": [{"node": {"name": "A: Blog 1"}}]},
                "paged": {"totalCount": 2, "pageInfo": {"hasNextPage": true}, "edges": [{"cursor": "WzFd"}]}}},
            {"node": {"id": 2,
                "plain": {"totalCount": 1, "edges": [{"node": {"name": "B: Blog 3"}}]},
                "paged": {"totalCount": 1, "pageInfo": {"hasNextPage": false}, "edges": [{"cursor": "WzNd"}]}}},
            {"node": {"id": 3,
                "plain": {"totalCount": 0, "edges": []},
                "paged": {"totalCount": 0, "pageInfo": {"hasNextPage": false}, "edges": []}}}
        ])
    );
}

/// A null operand is compared in SQL, as pg_graphql does (its resolve_connection_filter
/// suite): `{lt: null}` and `{in: null}` match no row, `{is: null}` is an error; a null
/// filter or a null column entry filters nothing.
#[tokio::test]
async fn null_operands_match_no_row() {
    let e = env().await;
    for filter in [
        "{ id: { lt: null } }",
        "{ id: { in: null } }",
        "{ email: { eq: null } }",
        "{ id: { neq: null } }",
    ] {
        let data = e
            .data(&format!(
                "{{ accountCollection(filter: {filter}) {{ edges {{ node {{ id }} }} }} }}"
            ))
            .await;
        assert_eq!(data["accountCollection"]["edges"], json!([]), "{filter}");
    }
    for filter in ["null", "{ id: null }"] {
        let data = e
            .data(&format!(
                "{{ accountCollection(filter: {filter}) {{ edges {{ node {{ id }} }} }} }}"
            ))
            .await;
        assert_eq!(
            data["accountCollection"]["edges"].as_array().map(Vec::len),
            Some(5),
            "{filter}"
        );
    }
    let out = e
        .run(
            "anon",
            "{ accountCollection(filter: { email: { is: null } }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        out,
        json!({"data": null, "errors": [{"message": "Error transpiling Is filter value type"}]})
    );
}

/// The primary key is appended to every `orderBy`, even one that names it, so a cursor holds
/// a value per term, as pg_graphql's (its roundtrip_types suite: `[1, ..., 1]`).
#[tokio::test]
async fn cursors_carry_the_appended_primary_key() {
    let e = env().await;
    let data = e
        .data("{ accountCollection(first: 2, orderBy: [{ id: DescNullsFirst }]) { edges { cursor node { id } } } }")
        .await;
    assert_eq!(
        data["accountCollection"]["edges"],
        json!([
            {"cursor": "WzUsIDVd", "node": {"id": 5}},
            {"cursor": "WzQsIDRd", "node": {"id": 4}}
        ])
    );
    let data = e
        .data(r#"{ accountCollection(first: 2, after: "WzQsIDRd", orderBy: [{ id: DescNullsFirst }]) { edges { node { id } } } }"#)
        .await;
    assert_eq!(
        data["accountCollection"]["edges"],
        json!([{"node": {"id": 3}}, {"node": {"id": 2}}])
    );
}
