//! REST reads through HTTP: every filter operator (with `not.` and `(any)`/`(all)`), logic trees,
//! select renames/casts/JSON paths, computed fields, order, limit/offset, Range and
//! Content-Range (206/416), count preferences, Accept types (object, CSV, plan, 406),
//! aggregates and `db-max-rows`.

mod common;

use common::{TestApp, expect_status};
use pgbase::config::Settings;
use serde_json::{Value, json};

const SCHEMA: &str = r#"
create table public.items (
  id int primary key,
  name text not null,
  price numeric,
  qty int,
  active bool,
  tags text[],
  data jsonb,
  span int4range,
  doc tsvector,
  descr text,
  category text
);
insert into public.items values
 (1, 'apple', 1.5, 10, true, '{fruit,red}', '{"a":{"b":1},"list":[1,2,3],"s":"x"}', '[1,5)',
  to_tsvector('english', 'the quick brown fox'), 'The quick brown fox', 'fruit'),
 (2, 'banana', 0.5, null, false, '{fruit,yellow}', '{"a":{"b":2},"list":[4],"s":"y"}', '[5,10)',
  to_tsvector('english', 'lazy dogs jump'), 'Lazy dogs jump', 'fruit'),
 (3, 'carrot', 0.25, 5, null, '{vegetable}', '{"a":{"b":3},"s":"z"}', '[10,20)',
  to_tsvector('english', 'fat cats sleep'), 'Fat cats sleep quickly', 'veg'),
 (4, 'Durian', 9, 1, true, '{}', null, '[20,30)', null, null, 'fruit');
create function public.label(public.items) returns text language sql stable
  as $$ select $1.name || ':' || $1.category $$;
create function public.double_price(i public.items) returns numeric language sql stable
  as $$ select i.price * 2 $$;
"#;

/// The `id`s a query returns, in response order.
async fn ids(app: &TestApp, query: &str) -> Vec<i64> {
    let sep = if query.is_empty() { "" } else { "&" };
    let r = app
        .get(&format!("/rest/v1/items?select=id{sep}{query}"))
        .await;
    expect_status(&r, 200);
    r.json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", r.text))
        .iter()
        .map(|row| row["id"].as_i64().expect("id"))
        .collect()
}

async fn sorted_ids(app: &TestApp, filter: &str) -> Vec<i64> {
    ids(app, &format!("{filter}&order=id")).await
}

#[tokio::test]
async fn every_filter_operator() {
    let app = TestApp::new(SCHEMA).await;
    let cases: &[(&str, &[i64])] = &[
        ("name=eq.apple", &[1]),
        ("category=neq.fruit", &[3]),
        ("price=gt.1", &[1, 4]),
        ("qty=gte.5", &[1, 3]),
        ("price=lt.0.5", &[3]),
        ("price=lte.0.5", &[2, 3]),
        ("name=like.*an*", &[2, 4]),
        ("name=ilike.d*", &[4]),
        ("name=match.^[ab]", &[1, 2]),
        ("name=imatch.^d", &[4]),
        ("id=in.(1,3)", &[1, 3]),
        ("name=in.(apple,\"x,y\")", &[1]),
        ("name=in.()", &[]),
        ("qty=is.null", &[2]),
        ("qty=not.is.null", &[1, 3, 4]),
        ("active=is.true", &[1, 4]),
        ("active=is.false", &[2]),
        ("active=is.unknown", &[3]),
        ("active=is.TRUE", &[1, 4]),
        ("active=isdistinct.true", &[2, 3]),
        ("doc=fts.quick", &[1]),
        ("doc=fts(english).dogs", &[2]),
        ("doc=plfts.fat%20cats", &[3]),
        ("doc=phfts(english).quick%20brown", &[1]),
        ("doc=wfts(english).lazy%20-cats", &[2]),
        ("doc=not.fts.quick", &[2, 3]),
        // v13: a text column is wrapped in to_tsvector.
        ("descr=fts(english).cats", &[3]),
        ("descr=wfts.quick", &[1, 3]),
        ("tags=cs.{fruit}", &[1, 2]),
        ("tags=cd.{fruit,red,yellow}", &[1, 2, 4]),
        ("data=cs.{\"s\":\"x\"}", &[1]),
        ("tags=ov.{red,vegetable}", &[1, 3]),
        ("span=ov.[3,6)", &[1, 2]),
        ("span=sl.[10,11)", &[1, 2]),
        ("span=sr.[9,10)", &[3, 4]),
        ("span=nxr.[0,10)", &[1, 2]),
        ("span=nxl.[10,100)", &[3, 4]),
        ("span=adj.[10,12)", &[2]),
        ("id=not.eq.1", &[2, 3, 4]),
        ("id=not.in.(1,2)", &[3, 4]),
        ("name=not.like.*an*", &[1, 3]),
        ("name=like(any).{a*,b*}", &[1, 2]),
        ("name=like(all).{*a*,*n*}", &[2, 4]),
        ("name=ilike(any).{D*,C*}", &[3, 4]),
        ("name=match(any).{^a,^c}", &[1, 3]),
        ("id=eq(any).{1,2}", &[1, 2]),
        ("id=gt(all).{1,2}", &[3, 4]),
        ("id=lte(any).{1}", &[1]),
        ("id=not.gte(any).{3,4}", &[1, 2]),
        // JSON paths: ->> compares text, -> compares jsonb.
        ("data->>s=eq.x", &[1]),
        ("data->a->>b=eq.2", &[2]),
        ("data->a->b=eq.3", &[3]),
        ("data->a->b=gt.1", &[2, 3]),
        ("data->list=cs.[4]", &[2]),
        ("data->list->0=eq.1", &[1]),
        ("data->>s=in.(x,z)", &[1, 3]),
        // computed fields are columns too
        ("label=eq.apple:fruit", &[1]),
        ("double_price=gt.2", &[1, 4]),
    ];
    for (filter, expected) in cases {
        assert_eq!(&sorted_ids(&app, filter).await, expected, "{filter}");
    }
}

#[tokio::test]
async fn logic_trees_nest_to_any_depth() {
    let app = TestApp::new(SCHEMA).await;
    let cases: &[(&str, &[i64])] = &[
        ("or=(id.eq.1,and(qty.is.null,active.is.false))", &[1, 2]),
        ("not.or=(id.eq.1,id.eq.2)", &[3, 4]),
        ("and=(price.gt.0.3,or(name.eq.apple,name.eq.carrot))", &[1]),
        (
            "or=(and(id.gt.1,or(id.eq.2,and(id.eq.4,name.not.eq.x))),id.eq.1)",
            &[1, 2, 4],
        ),
        (
            "or=(name.eq.\"apple\",name.in.(\"banana\",\"x,y\"))",
            &[1, 2],
        ),
        ("or=(tags.cs.{red},tags.cd.{})", &[1, 4]),
        ("or=(id.eq(any).{1,3},active.not.is.true)", &[1, 2, 3]),
        ("or=(doc.fts(english).dogs,data->>s.eq.z)", &[2, 3]),
        ("or=(label.eq.Durian:fruit,id.eq.1)", &[1, 4]),
        ("and=(id.gt.1)&or=(id.eq.2,id.eq.3)&id=neq.3", &[2]),
        ("not.and=(id.gt.1,id.lt.4)", &[1, 4]),
    ];
    for (filter, expected) in cases {
        assert_eq!(&sorted_ids(&app, filter).await, expected, "{filter}");
    }
}

#[tokio::test]
async fn select_renames_casts_json_paths_and_computed_fields() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/items?select=id,label:name,price::text,b:data->a->b,data->>s,data->list->0,cat:category::varchar&id=eq.1")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        // `data->list->0` is named by its last key, `list` (PostgREST 12; this said "0").
        json!([{"id": 1, "label": "apple", "price": "1.5", "b": 1, "s": "x", "list": 1, "cat": "fruit"}])
    );

    // missing JSON keys are null; arrays and ranges come out in their JSON form
    let r = app
        .get("/rest/v1/items?select=tags,span,data->list&id=eq.3")
        .await;
    assert_eq!(
        r.json(),
        json!([{"tags": ["vegetable"], "span": "[10,20)", "list": null}])
    );

    // computed fields: selected, filtered and ordered like columns
    let r = app
        .get("/rest/v1/items?select=id,label,dbl:double_price&order=label.desc&limit=2")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id": 3, "label": "carrot:veg", "dbl": 0.50}, {"id": 2, "label": "banana:fruit", "dbl": 1.0}])
    );

    // `*` with extra columns
    let r = app.get("/rest/v1/items?select=*,label&id=eq.4").await;
    let row = &r.json()[0];
    assert_eq!(row["label"], "Durian:fruit");
    assert_eq!(row["name"], "Durian");

    // quoted names and spaces survive
    let r = app
        .get("/rest/v1/items?select=%22id%22,%20name&id=eq.2")
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 2, "name": "banana"}]));
}

#[tokio::test]
async fn order_limit_offset() {
    let app = TestApp::new(SCHEMA).await;
    assert_eq!(ids(&app, "order=qty.desc.nullslast").await, [1, 3, 4, 2]);
    assert_eq!(ids(&app, "order=qty.asc.nullsfirst").await, [2, 4, 3, 1]);
    assert_eq!(ids(&app, "order=qty.desc").await, [2, 1, 3, 4]);
    assert_eq!(ids(&app, "order=qty").await, [4, 3, 1, 2]);
    assert_eq!(
        ids(&app, "order=category.asc,price.desc").await,
        [4, 1, 2, 3]
    );
    assert_eq!(
        ids(&app, "order=data->a->b.desc.nullslast").await,
        [3, 2, 1, 4]
    );
    assert_eq!(
        ids(&app, "order=data->>s.desc.nullsfirst").await,
        [4, 3, 2, 1]
    );
    assert_eq!(ids(&app, "order=id&limit=2&offset=1").await, [2, 3]);
    assert_eq!(ids(&app, "order=id&limit=0").await, Vec::<i64>::new());
    assert_eq!(ids(&app, "order=id&offset=3").await, [4]);

    let r = app
        .get("/rest/v1/items?select=id&order=id&limit=2&offset=1")
        .await;
    assert_eq!(r.header("content-range"), Some("1-2/*"));
    // supabase-js .order() appends terms to one parameter
    assert_eq!(ids(&app, "order=category.desc,id.desc").await, [3, 4, 2, 1]);
}

#[tokio::test]
async fn range_headers_content_range_206_and_416() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get_with("/rest/v1/items?select=id&order=id", &[("range", "0-1")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 1}, {"id": 2}]));
    assert_eq!(r.header("content-range"), Some("0-1/*"));

    let r = app
        .get_with(
            "/rest/v1/items?select=id&order=id",
            &[
                ("range", "1-2"),
                ("range-unit", "items"),
                ("prefer", "count=exact"),
            ],
        )
        .await;
    expect_status(&r, 206);
    assert_eq!(r.json(), json!([{"id": 2}, {"id": 3}]));
    assert_eq!(r.header("content-range"), Some("1-2/4"));

    // open range
    let r = app
        .get_with("/rest/v1/items?select=id&order=id", &[("range", "2-")])
        .await;
    assert_eq!(r.json(), json!([{"id": 3}, {"id": 4}]));
    assert_eq!(r.header("content-range"), Some("2-3/*"));

    // header intersected with limit/offset
    let r = app
        .get_with(
            "/rest/v1/items?select=id&order=id&limit=2",
            &[("range", "1-3")],
        )
        .await;
    assert_eq!(r.json(), json!([{"id": 2}]));

    // the whole result with a count is 200
    let r = app
        .get_with("/rest/v1/items?select=id", &[("prefer", "count=exact")])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("content-range"), Some("0-3/4"));

    // empty result with a count
    let r = app
        .get_with(
            "/rest/v1/items?select=id&id=gt.100",
            &[("prefer", "count=exact")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.header("content-range"), Some("*/0"));
    let r = app.get("/rest/v1/items?select=id&id=gt.100").await;
    assert_eq!(r.header("content-range"), Some("*/*"));

    // lower > upper → 416
    let r = app.get_with("/rest/v1/items", &[("range", "3-1")]).await;
    expect_status(&r, 416);
    assert_eq!(r.json()["code"], "PGRST103");

    // offset beyond the total with a count → 416
    let r = app
        .get_with("/rest/v1/items?offset=10", &[("prefer", "count=exact")])
        .await;
    expect_status(&r, 416);
    assert_eq!(r.json()["code"], "PGRST103");
    assert_eq!(r.json()["message"], "Requested range not satisfiable");
    assert_eq!(
        r.json()["details"],
        "An offset of 10 was requested, but there are only 4 rows."
    );
    assert_eq!(r.header("content-range"), Some("*/4"));
    // … without a count it is an empty page
    let r = app.get("/rest/v1/items?offset=10").await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([]));

    // Range is ignored on non-GET
    let r = app
        .send(
            "DELETE",
            "/rest/v1/items?id=eq.4",
            &[("range", "3-1"), ("prefer", "return=representation")],
            None,
        )
        .await;
    expect_status(&r, 200);

    // HEAD: headers only
    let r = app
        .send(
            "HEAD",
            "/rest/v1/items?limit=1",
            &[("prefer", "count=exact")],
            None,
        )
        .await;
    expect_status(&r, 206);
    assert_eq!(r.text, "");
    assert_eq!(r.header("content-range"), Some("0-0/3"));
}

/// Skews a table's statistics so that the planner's row estimate (`count=planned`) is
/// `tuples` while the exact count stays what it is: pg_class says `tuples` rows in the pages
/// the table really has.
async fn skew_statistics(client: &tokio_postgres::Client, table: &str, tuples: u32) {
    client
        .batch_execute(&format!(
            "analyze {table};
             update pg_class set reltuples = {tuples} where oid = '{table}'::regclass and relpages > 0;"
        ))
        .await
        .expect("skew statistics");
    let explained: String = client
        .query_one(&format!("explain select * from {table}"), &[])
        .await
        .expect("explain")
        .get(0);
    assert!(
        explained.contains(&format!("rows={tuples} ")),
        "the planner ignores the skewed statistics: {explained}"
    );
}

fn total_of(r: &common::TestResponse) -> String {
    r.header("content-range")
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn count_exact_planned_estimated() {
    let app = TestApp::new(SCHEMA).await;
    let client = app.client().await;
    // 4 rows (3 fruit); the planner believes 40000 (30000 fruit).
    skew_statistics(&client, "public.items", 40000).await;
    let get = async |query: &str, pref: &str| {
        let r = app
            .get_with(&format!("/rest/v1/items?{query}"), &[("prefer", pref)])
            .await;
        expect_status(&r, 206);
        assert_eq!(r.header("preference-applied"), Some(pref), "{query}");
        assert_eq!(
            r.header("content-range").map(|c| c.split('/').next()),
            Some(Some("0-0")),
            "{query}"
        );
        total_of(&r)
    };
    assert_eq!(
        get("select=id&category=eq.fruit&limit=1", "count=exact").await,
        "3"
    );
    assert_eq!(get("select=id&limit=1", "count=exact").await, "4");
    assert_eq!(get("select=id&limit=1", "count=planned").await, "40000");
    assert_eq!(
        get("select=id&category=eq.fruit&limit=1", "count=planned").await,
        "30000"
    );
    // No db-max-rows: count=estimated is the exact count.
    assert_eq!(get("select=id&limit=1", "count=estimated").await, "4");
    assert_eq!(
        get("select=id&category=eq.fruit&limit=1", "count=estimated").await,
        "3"
    );
}

/// PostgREST's `count=estimated`: the exact count while it is within db-max-rows, the
/// planner's estimate beyond it.
#[tokio::test]
async fn estimated_count_beyond_max_rows_uses_the_plan() {
    for (max_rows, estimated, range) in [(2, "100000", "0-1"), (1000, "500", "0-499")] {
        let settings = Settings {
            db_max_rows: Some(max_rows),
            ..Settings::default()
        };
        let app = TestApp::with_settings(
            "create table public.big (id int primary key);
             insert into public.big select generate_series(1, 500);",
            settings,
        )
        .await;
        skew_statistics(&app.client().await, "public.big", 100000).await;
        for (pref, total) in [
            ("count=estimated", estimated),
            ("count=planned", "100000"),
            ("count=exact", "500"),
        ] {
            let r = app
                .get_with("/rest/v1/big?select=id", &[("prefer", pref)])
                .await;
            assert_eq!(
                r.header("content-range"),
                Some(format!("{range}/{total}").as_str()),
                "db-max-rows {max_rows}, {pref}"
            );
        }
    }
}

#[tokio::test]
async fn accept_json_object_csv_and_406() {
    let app = TestApp::new(SCHEMA).await;
    let object = ("accept", "application/vnd.pgrst.object+json");
    let r = app
        .get_with("/rest/v1/items?select=id,name&id=eq.1", &[object])
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"id": 1, "name": "apple"}));
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/vnd.pgrst.object+json"),
        "{:?}",
        r.header("content-type")
    );

    let r = app.get_with("/rest/v1/items?id=eq.100", &[object]).await;
    expect_status(&r, 406);
    assert_eq!(
        r.json(),
        // PostgREST 12's wording (v13 says "Cannot coerce the result to a single JSON object").
        json!({"code": "PGRST116", "message": "JSON object requested, multiple (or no) rows returned",
               "details": "The result contains 0 rows", "hint": null})
    );
    let r = app.get_with("/rest/v1/items", &[object]).await;
    expect_status(&r, 406);
    assert_eq!(r.json()["details"], "The result contains 4 rows");

    // singular on a write rolls it back
    let r = app
        .send(
            "PATCH",
            "/rest/v1/items?id=not.is.null",
            &[object, ("prefer", "return=representation")],
            Some(r#"{"qty": 99}"#),
        )
        .await;
    expect_status(&r, 406);
    assert_eq!(ids(&app, "qty=eq.99").await, Vec::<i64>::new());

    let r = app
        .get_with(
            "/rest/v1/items?select=id,name,tags&order=id&limit=2",
            &[("accept", "text/csv")],
        )
        .await;
    expect_status(&r, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    assert_eq!(
        r.text,
        "id,name,tags\n1,apple,\"{fruit,red}\"\n2,banana,\"{fruit,yellow}\""
    );

    let r = app
        .get_with("/rest/v1/items?id=eq.1&select=id", &[("accept", "*/*")])
        .await;
    expect_status(&r, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );

    let r = app
        .get_with(
            "/rest/v1/items?select=id&id=eq.2",
            &[("accept", "application/vnd.pgrst.array+json;nulls=stripped")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 2}]));
    let r = app
        .get_with(
            "/rest/v1/items?select=id,qty&id=eq.2",
            &[("accept", "application/vnd.pgrst.object+json;nulls=stripped")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.json(), json!({"id": 2}));

    let r = app
        .get_with("/rest/v1/items", &[("accept", "application/xml")])
        .await;
    expect_status(&r, 406);
    assert_eq!(r.json()["code"], "PGRST107");

    // plan output is off unless enabled (db-plan-enabled; on in dev, which the harness uses)
    let mut app = app;
    app.configure_rest(|c| c.plan_enabled = false);
    let r = app
        .get_with(
            "/rest/v1/items",
            &[("accept", "application/vnd.pgrst.plan+json")],
        )
        .await;
    expect_status(&r, 406);
}

#[tokio::test]
async fn explain_plans_when_enabled() {
    let mut app = TestApp::new(SCHEMA).await;
    app.configure_rest(|c| c.plan_enabled = true);
    let r = app
        .get_with(
            "/rest/v1/items?select=id&id=eq.1",
            &[("accept", "application/vnd.pgrst.plan+json")],
        )
        .await;
    expect_status(&r, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/vnd.pgrst.plan+json; for=\"application/json\""),
        "{:?}",
        r.header("content-type")
    );
    assert!(r.json()[0]["Plan"]["Node Type"].is_string(), "{}", r.text);

    let r = app
        .get_with(
            "/rest/v1/items?select=id",
            &[(
                "accept",
                "application/vnd.pgrst.plan+text; options=analyze|verbose",
            )],
        )
        .await;
    expect_status(&r, 200);
    assert!(
        r.text.contains("Actual") || r.text.contains("actual"),
        "{}",
        r.text
    );
    assert!(r.text.contains("Output"), "{}", r.text);

    // a write's plan with analyze changes nothing
    let r = app
        .send(
            "DELETE",
            "/rest/v1/items?id=eq.1",
            &[("accept", "application/vnd.pgrst.plan+json; options=analyze")],
            None,
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(sorted_ids(&app, "id=eq.1").await, [1]);
}

#[tokio::test]
async fn aggregates_with_implied_group_by() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .get("/rest/v1/items?select=category,count()&order=category")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"category": "fruit", "count": 3}, {"category": "veg", "count": 1}])
    );
    let r = app
        .get(
            "/rest/v1/items?select=price.sum(),qty.max(),qty.min(),avg:qty.avg()::int,n:id.count()",
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"sum": 11.25, "max": 10, "min": 1, "avg": 5, "n": 4}])
    );
    let r = app
        .get("/rest/v1/items?select=active,total:price.sum()::text&category=eq.fruit&order=active.nullsfirst")
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"active": false, "total": "0.5"}, {"active": true, "total": "10.5"}])
    );
    // an empty table still yields one row for a bare aggregate
    let r = app.get("/rest/v1/items?select=count()&id=gt.100").await;
    assert_eq!(r.json(), json!([{"count": 0}]));
}

#[tokio::test]
async fn max_rows_caps_every_level() {
    let settings = Settings {
        db_max_rows: Some(2),
        ..Settings::default()
    };
    let app = TestApp::with_settings(
        &(SCHEMA.to_string()
            + "create table public.notes (id int primary key, item_id int references public.items);
               insert into public.notes select g, 1 from generate_series(1, 5) g;"),
        settings,
    )
    .await;
    let r = app
        .get_with(
            "/rest/v1/items?select=id,notes(id)&order=id",
            &[("prefer", "count=exact")],
        )
        .await;
    expect_status(&r, 206);
    assert_eq!(r.header("content-range"), Some("0-1/4"));
    let body = r.json();
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    assert_eq!(body[0]["notes"].as_array().map(Vec::len), Some(2));
    // a smaller limit still wins
    let r = app.get("/rest/v1/items?select=id&limit=1").await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    let r = app.get("/rest/v1/items?select=id&limit=10").await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn bad_filters_are_client_errors() {
    let app = TestApp::new(SCHEMA).await;
    // (query, status, code)
    let cases: &[(&str, u16, &str)] = &[
        ("id=eq.abc", 400, "22P02"),
        ("nope=eq.1", 400, "42703"),
        ("id=foo.1", 400, "PGRST100"),
        ("active=is.maybe", 400, "PGRST100"),
        ("select=id,", 400, "PGRST100"),
        ("select=id::bad type", 400, "PGRST100"),
        ("order=id.sideways", 400, "PGRST100"),
        ("order=nope", 400, "42703"),
        ("limit=x", 416, "PGRST103"),
        ("or=(id.eq.1", 400, "PGRST100"),
        ("select=nope", 400, "42703"),
        ("select=data->a->nope", 200, ""),
        ("span=sl.notarange", 400, "22P02"),
        ("doc=fts(nolang).x", 400, "42704"),
        ("id=eq(any).1", 400, "22P02"),
        ("select=id.sum()x", 400, "PGRST100"),
        ("tags=cs.notarray", 400, "22P02"),
        ("name=match.(", 400, "2201B"),
    ];
    for (query, status, code) in cases {
        let r = app.get(&format!("/rest/v1/items?{query}")).await;
        assert_eq!(r.status.as_u16(), *status, "{query}: {}", r.text);
        if !code.is_empty() {
            assert_eq!(r.json()["code"], *code, "{query}: {}", r.text);
            let body = r.json();
            for key in ["message", "details", "hint"] {
                assert!(body.get(key).is_some(), "{query}: {key} missing");
            }
        }
    }
    let r = app.get("/rest/v1/items?nope=eq.1").await;
    assert_eq!(r.json()["message"], "column items.nope does not exist");
    let r = app.get("/rest/v1/items?select=nam").await;
    assert_eq!(
        r.json()["hint"],
        Value::from("Perhaps you meant to reference the column \"items.name\".")
    );
}

#[tokio::test]
async fn max_rows_defaults_to_1000_and_0_lifts_it() {
    let setup = "create table public.many (id int primary key);
         insert into public.many select generate_series(1, 1500);
         create function public.many_ids() returns setof public.many language sql stable
           as $$ select * from public.many $$;";
    let app = TestApp::new(setup).await;
    let r = app
        .get_with(
            "/rest/v1/many?select=id&order=id",
            &[("prefer", "count=exact")],
        )
        .await;
    expect_status(&r, 206);
    assert_eq!(r.header("content-range"), Some("0-999/1500"));
    assert_eq!(r.json().as_array().map(Vec::len), Some(1000));
    // a smaller limit is honoured, a larger one capped
    let r = app.get("/rest/v1/many?select=id&limit=5000").await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1000));
    let r = app.get("/rest/v1/rpc/many_ids").await;
    expect_status(&r, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1000));

    let unlimited = Settings {
        db_max_rows: Some(0),
        ..Settings::default()
    };
    let app = TestApp::with_settings(setup, unlimited).await;
    let r = app.get("/rest/v1/many?select=id").await;
    expect_status(&r, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1500));
}
