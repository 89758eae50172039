//! More PostgREST 12.2 behaviours (issue #11), as our own cases through the router against a
//! real database: writes on tables where the role may read only some columns.

mod common;

use common::{TestApp, expect_status};
use serde_json::{Value, json};

#[track_caller]
fn expect_json(r: &common::TestResponse, status: u16, body: Value) {
    expect_status(r, status);
    assert_eq!(r.json(), body, "body: {}", r.text);
}

// ----- writes with column privileges -----

const COLUMN_PRIVILEGES: &str = r#"
create table public.members (
  id int primary key, login text not null, secret text not null
);
insert into public.members values (1, 'ann', 's1'), (2, 'bob', 's2'), (3, 'cid', 's3');
create table public.drop_box (note text);
grant usage on schema public to anon;
revoke all on public.members, public.drop_box from anon, authenticated, public;
grant select (id, login) on public.members to anon;
grant insert, update, delete on public.members to anon;
grant insert on public.drop_box to anon;
"#;

#[tokio::test]
async fn writes_need_select_only_on_the_columns_they_return() {
    let app = TestApp::new(COLUMN_PRIVILEGES).await;
    let minimal = [("Prefer", "return=minimal")];
    let representation = [("Prefer", "return=representation")];

    // an insert-only table takes rows when nothing is returned
    let r = app
        .send(
            "POST",
            "/rest/v1/drop_box",
            &minimal,
            Some(r#"{"note":"hi"}"#),
        )
        .await;
    expect_status(&r, 201);

    // insert: returning only the readable columns works, all columns is 42501
    let r = app
        .send(
            "POST",
            "/rest/v1/members?select=id,login",
            &representation,
            Some(r#"{"id":4,"login":"dan","secret":"s4"}"#),
        )
        .await;
    expect_json(&r, 201, json!([{"id": 4, "login": "dan"}]));
    let r = app
        .send(
            "POST",
            "/rest/v1/members",
            &representation,
            Some(r#"{"id":5,"login":"eve","secret":"s5"}"#),
        )
        .await;
    expect_status(&r, 401);
    assert_eq!(r.json()["code"], "42501", "{}", r.text);
    let r = app
        .send(
            "POST",
            "/rest/v1/members",
            &minimal,
            Some(r#"{"id":5,"login":"eve","secret":"s5"}"#),
        )
        .await;
    expect_status(&r, 201);

    // update: by a readable column, minimal and narrowed representation
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.1",
            &minimal,
            Some(r#"{"secret":"x"}"#),
        )
        .await;
    expect_status(&r, 204);
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.1",
            &[],
            Some(r#"{"secret":"y"}"#),
        )
        .await;
    expect_status(&r, 204);
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.2&select=login",
            &representation,
            Some(r#"{"secret":"z"}"#),
        )
        .await;
    expect_json(&r, 200, json!([{"login": "bob"}]));

    // an empty object changes nothing, reading only the selected columns
    let r = app
        .send(
            "PATCH",
            "/rest/v1/members?id=eq.2&select=id",
            &representation,
            Some("{}"),
        )
        .await;
    expect_json(&r, 200, json!([]));

    // delete: narrowed representation and minimal work, every column does not
    let r = app
        .send("DELETE", "/rest/v1/members?id=eq.3", &representation, None)
        .await;
    expect_status(&r, 401);
    let r = app
        .send(
            "DELETE",
            "/rest/v1/members?id=eq.3&select=id,login",
            &representation,
            None,
        )
        .await;
    expect_json(&r, 200, json!([{"id": 3, "login": "cid"}]));
    let r = app
        .send("DELETE", "/rest/v1/members?id=eq.2", &minimal, None)
        .await;
    expect_status(&r, 204);

    let secrets = app
        .sql_texts("select id || ':' || secret from public.members order by id")
        .await;
    assert_eq!(
        secrets,
        vec![Some("1:y".into()), Some("4:s4".into()), Some("5:s5".into())]
    );
}
