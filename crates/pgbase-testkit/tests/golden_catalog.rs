//! Keeps `golden/catalog.json` true to `golden/fixture.sql`: the fixture is created in a fresh
//! database, its catalog document read with pgbase's own catalog query, normalised, and compared
//! with the checked-in file. When the catalog query or the fixture changes, run
//! `PGBASE_UPDATE_GOLDEN=1 cargo test -p pgbase-testkit --test golden_catalog` to rewrite it,
//! then refresh the REST/GraphQL golden snapshots (see docs/architecture.md).

use pgbase_testkit::golden;

#[tokio::test]
async fn the_checked_in_catalog_matches_the_fixture_schema() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute(golden::FIXTURE_SQL)
        .await
        .expect("golden/fixture.sql applies");
    let data = pgbase_catalog::load_data(&client, &golden::exposed_schemas())
        .await
        .expect("the catalog query runs");
    let actual = golden::normalise(&data);
    let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/catalog.json");
    if std::env::var_os("PGBASE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("golden/catalog.json is writable");
        return;
    }
    let expected: serde_json::Value =
        serde_json::from_str(golden::CATALOG_JSON).expect("golden/catalog.json parses");
    assert!(
        actual == expected,
        "golden/catalog.json is out of date with golden/fixture.sql or catalog.sql; \
         rerun with PGBASE_UPDATE_GOLDEN=1 and review the diff"
    );
    // The cache built from the checked-in document holds the fixture's relations.
    let cache = golden::schema_cache();
    for table in [
        "authors",
        "posts",
        "comments",
        "post_tags",
        "published_posts",
    ] {
        assert!(cache.table("public", table).is_some(), "{table} is missing");
    }
}
