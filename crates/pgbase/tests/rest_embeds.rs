//! Resource embedding through HTTP: every relationship kind (many-to-one, one-to-many,
//! one-to-one, many-to-many through a junction, self-reference, computed, views), `!hint`
//! disambiguation and PGRST201, `!inner`/`!left`, spreads, filters/order/limit/offset and
//! logic trees inside embeds, `rel=is.null`, order by a to-one embed, embeds after writes.

mod common;

use common::{TestApp, expect_status};
use serde_json::json;

const SCHEMA: &str = r#"
create table public.directors (id int primary key, name text not null);
create table public.films (id int primary key, title text not null, year int,
  director_id int references public.directors(id));
create table public.actors (id int primary key, name text not null);
create table public.roles (film_id int references public.films(id),
  actor_id int references public.actors(id), character text, primary key (film_id, actor_id));
create table public.film_details (film_id int primary key references public.films(id), budget int);
create table public.employees (id int primary key, name text not null,
  manager_id int references public.employees(id));
create table public.people (id int primary key, name text not null);
create table public.projects (id int primary key, name text not null,
  owner_id int references public.people(id), reviewer_id int references public.people(id));
create view public.film_view as select id, title, director_id from public.films;
create function public.recent_films(public.directors) returns setof public.films
  language sql stable as $$ select * from public.films where director_id = $1.id and year >= 2010 $$;
create function public.reports(public.employees) returns setof public.employees
  language sql stable as $$ select * from public.employees where manager_id = $1.id $$;
create function public.boss(public.employees) returns setof public.employees rows 1
  language sql stable as $$ select * from public.employees where id = $1.manager_id $$;

insert into public.directors values (1, 'Nolan'), (2, 'Villeneuve'), (3, 'Nobody');
insert into public.films values (1, 'Memento', 2000, 1), (2, 'Inception', 2010, 1),
  (3, 'Dune', 2021, 2), (4, 'Arrival', 2016, 2), (5, 'Orphan', 1999, null);
insert into public.actors values (1, 'DiCaprio'), (2, 'Chalamet'), (3, 'Adams'), (4, 'Pearce');
insert into public.roles values (2, 1, 'Cobb'), (3, 2, 'Paul'), (4, 3, 'Louise'), (1, 4, 'Leonard'),
  (3, 3, 'Jessica');
insert into public.film_details values (1, 9), (3, 165);
insert into public.employees values (1, 'boss', null), (2, 'alice', 1), (3, 'bob', 1), (4, 'carol', 2);
insert into public.people values (1, 'ann'), (2, 'ben');
insert into public.projects values (1, 'p1', 1, 2);
"#;

async fn get_ok(app: &TestApp, uri: &str) -> serde_json::Value {
    let r = app.get(uri).await;
    expect_status(&r, 200);
    r.json()
}

#[tokio::test]
async fn many_to_one_one_to_many_and_one_to_one() {
    let app = TestApp::new(SCHEMA).await;
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,directors(name)&id=in.(2,5)&order=id"
        )
        .await,
        json!([{"title": "Inception", "directors": {"name": "Nolan"}},
               {"title": "Orphan", "directors": null}])
    );
    // alias, and the FK column name as the target
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,director:director_id(name)&id=eq.3"
        )
        .await,
        json!([{"title": "Dune", "director": {"name": "Villeneuve"}}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/directors?select=name,films(title)&id=in.(1,3)&order=id&films.order=id"
        )
        .await,
        json!([{"name": "Nolan", "films": [{"title": "Memento"}, {"title": "Inception"}]},
               {"name": "Nobody", "films": []}])
    );
    // one-to-one both ways: objects, not arrays
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,film_details(budget)&id=in.(1,2)&order=id"
        )
        .await,
        json!([{"title": "Memento", "film_details": {"budget": 9}},
               {"title": "Inception", "film_details": null}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/film_details?select=budget,films(title)&film_id=eq.3"
        )
        .await,
        json!([{"budget": 165, "films": {"title": "Dune"}}])
    );
    // `*` in an embed, nested three levels
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/directors?select=name,films(title,film_details(*))&id=eq.2&films.order=id"
        )
        .await,
        json!([{"name": "Villeneuve", "films": [
            {"title": "Dune", "film_details": {"film_id": 3, "budget": 165}},
            {"title": "Arrival", "film_details": null}]}])
    );
    // views relate through their base tables
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/film_view?select=title,directors(name)&id=eq.1"
        )
        .await,
        json!([{"title": "Memento", "directors": {"name": "Nolan"}}])
    );
}

#[tokio::test]
async fn many_to_many_through_a_junction() {
    let app = TestApp::new(SCHEMA).await;
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,actors(name)&id=eq.3&actors.order=name"
        )
        .await,
        json!([{"title": "Dune", "actors": [{"name": "Adams"}, {"name": "Chalamet"}]}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/actors?select=name,films(title)&id=eq.3&films.order=id"
        )
        .await,
        json!([{"name": "Adams", "films": [{"title": "Dune"}, {"title": "Arrival"}]}])
    );
    // the junction itself, with a nested to-one embed and a spread
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,roles(character,actors(name))&id=eq.2"
        )
        .await,
        json!([{"title": "Inception", "roles": [{"character": "Cobb", "actors": {"name": "DiCaprio"}}]}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,cast:roles(character,...actors(actor:name))&id=eq.1"
        )
        .await,
        json!([{"title": "Memento", "cast": [{"character": "Leonard", "actor": "Pearce"}]}])
    );
    // hint by junction name
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,actors!roles(name)&id=eq.2"
        )
        .await,
        json!([{"title": "Inception", "actors": [{"name": "DiCaprio"}]}])
    );
}

#[tokio::test]
async fn self_references_and_computed_relationships() {
    let app = TestApp::new(SCHEMA).await;
    // the FK column name picks the many-to-one direction
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/employees?select=name,manager:manager_id(name)&id=in.(1,4)&order=id"
        )
        .await,
        json!([{"name": "boss", "manager": null}, {"name": "carol", "manager": {"name": "alice"}}])
    );
    // the table name alone is the one-to-many direction (PostgREST 12)
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/employees?select=name,employees(name)&id=eq.2"
        )
        .await,
        json!([{"name": "alice", "employees": [{"name": "carol"}]}])
    );
    // computed relationships: set-returning (to-many) and ROWS 1 (to-one)
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/employees?select=name,reports(name),boss(name)&id=eq.2"
        )
        .await,
        json!([{"name": "alice", "reports": [{"name": "carol"}], "boss": {"name": "boss"}}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/directors?select=name,recent_films(title)&id=eq.1"
        )
        .await,
        json!([{"name": "Nolan", "recent_films": [{"title": "Inception"}]}])
    );
    // computed relationships accept filters and order like any embed
    assert_eq!(
        get_ok(&app, "/rest/v1/employees?select=name,reports(name)&id=eq.1&reports.order=name.desc&reports.name=neq.zed").await,
        json!([{"name": "boss", "reports": [{"name": "bob"}, {"name": "alice"}]}])
    );
}

#[tokio::test]
async fn ambiguous_embeds_and_hints() {
    let app = TestApp::new(SCHEMA).await;
    let r = app.get("/rest/v1/projects?select=name,people(name)").await;
    expect_status(&r, 300);
    let body = r.json();
    assert_eq!(body["code"], "PGRST201");
    assert_eq!(
        body["message"],
        "Could not embed because more than one relationship was found for 'projects' and 'people'"
    );
    let details = body["details"].as_array().expect("details array");
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["cardinality"], "many-to-one");
    assert!(
        body["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("'people!projects_owner_id_fkey'"),
        "{body}"
    );
    assert_eq!(
        get_ok(&app, "/rest/v1/projects?select=name,owner:people!owner_id(name),reviewer:people!projects_reviewer_id_fkey(name)").await,
        json!([{"name": "p1", "owner": {"name": "ann"}, "reviewer": {"name": "ben"}}])
    );
    // the reverse side needs a hint too
    let r = app.get("/rest/v1/people?select=name,projects(name)").await;
    expect_status(&r, 300);
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/people?select=name,owned:projects!owner_id(name)&order=id"
        )
        .await,
        json!([{"name": "ann", "owned": [{"name": "p1"}]}, {"name": "ben", "owned": []}])
    );

    let r = app.get("/rest/v1/films?select=*,directorz(*)").await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST200");
    assert_eq!(
        r.json()["message"],
        "Could not find a relationship between 'films' and 'directorz' in the schema cache"
    );
    assert_eq!(
        r.json()["hint"],
        "Perhaps you meant 'directors' instead of 'directorz'."
    );
    let r = app.get("/rest/v1/films?select=*,directors!nope(*)").await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST200");
}

#[tokio::test]
async fn inner_left_and_embed_filters() {
    let app = TestApp::new(SCHEMA).await;
    // filters on an embed restrict only the embed
    assert_eq!(
        get_ok(&app, "/rest/v1/directors?select=name,films(title)&films.year=gt.2015&films.order=year&order=id").await,
        json!([{"name": "Nolan", "films": []},
               {"name": "Villeneuve", "films": [{"title": "Arrival"}, {"title": "Dune"}]},
               {"name": "Nobody", "films": []}])
    );
    // …unless !inner
    let r = app
        .get_with(
            "/rest/v1/directors?select=name,films!inner(title)&films.year=gt.2015&films.order=year",
            &[("prefer", "count=exact")],
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"name": "Villeneuve", "films": [{"title": "Arrival"}, {"title": "Dune"}]}])
    );
    assert_eq!(r.header("content-range"), Some("0-0/1"));
    // !inner on a to-one embed
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,directors!inner(name)&directors.name=eq.Nolan&order=id"
        )
        .await,
        json!([{"title": "Memento", "directors": {"name": "Nolan"}},
               {"title": "Inception", "directors": {"name": "Nolan"}}])
    );
    // !left is the default
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=id,directors!left(name)&directors.name=eq.Nolan&order=id&limit=3"
        )
        .await,
        json!([{"id": 1, "directors": {"name": "Nolan"}}, {"id": 2, "directors": {"name": "Nolan"}},
               {"id": 3, "directors": null}])
    );
    // or/and inside an embed, nested
    assert_eq!(
        get_ok(&app, "/rest/v1/directors?select=name,films(title)&id=eq.1&films.or=(year.lt.2001,and(year.gt.2005,title.like.I*))&films.order=id").await,
        json!([{"name": "Nolan", "films": [{"title": "Memento"}, {"title": "Inception"}]}])
    );
    // order, limit and offset inside an embed
    assert_eq!(
        get_ok(&app, "/rest/v1/directors?select=name,films(title)&id=eq.2&films.order=year.desc&films.limit=1&films.offset=1").await,
        json!([{"name": "Villeneuve", "films": [{"title": "Arrival"}]}])
    );
    // two levels deep
    assert_eq!(
        get_ok(&app, "/rest/v1/directors?select=name,films(title,actors(name))&id=eq.2&films.order=id&films.actors.name=like.A*").await,
        json!([{"name": "Villeneuve", "films": [{"title": "Dune", "actors": [{"name": "Adams"}]},
               {"title": "Arrival", "actors": [{"name": "Adams"}]}]}])
    );
    // rel=is.null / not.is.null: anti- and semi-joins, also inside or
    let ids = |v: serde_json::Value| -> Vec<i64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };
    assert_eq!(
        ids(get_ok(
            &app,
            "/rest/v1/films?select=id,film_details()&film_details=is.null&order=id"
        )
        .await),
        [2, 4, 5]
    );
    assert_eq!(
        ids(get_ok(
            &app,
            "/rest/v1/films?select=id,film_details()&film_details=not.is.null&order=id"
        )
        .await),
        [1, 3]
    );
    assert_eq!(
        ids(get_ok(&app, "/rest/v1/films?select=id,film_details(budget)&or=(film_details.not.is.null,year.lt.2000)&order=id").await),
        [1, 3, 5]
    );
    // an embed filter whose embed is not selected
    let r = app
        .get("/rest/v1/films?select=id&directors.name=eq.Nolan")
        .await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST108");
    // any other operator on an embed name
    let r = app
        .get("/rest/v1/films?select=id,directors(name)&directors=eq.1")
        .await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST120");
}

#[tokio::test]
async fn order_by_to_one_embed_spreads_and_aggregates() {
    let app = TestApp::new(SCHEMA).await;
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,directors(name)&order=directors(name).desc.nullslast,id"
        )
        .await
        .as_array()
        .map(|a| a.iter().map(|r| r["title"].clone()).collect::<Vec<_>>()),
        Some(vec![
            json!("Dune"),
            json!("Arrival"),
            json!("Memento"),
            json!("Inception"),
            json!("Orphan")
        ])
    );
    let r = app
        .get("/rest/v1/directors?select=name,films(title)&order=films(title)")
        .await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST118");

    // to-one spread lifts columns (with aliases) into the parent
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,...directors(director:name,director_id:id)&id=eq.1"
        )
        .await,
        json!([{"title": "Memento", "director": "Nolan", "director_id": 1}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/films?select=title,...directors(name)&id=eq.5"
        )
        .await,
        json!([{"title": "Orphan", "name": null}])
    );
    // to-many spread is a v13 feature: v12 refuses it
    let r = app
        .get("/rest/v1/directors?select=name,...films(title)")
        .await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "PGRST119");

    // aggregates inside embeds
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/directors?select=name,films(count())&order=id"
        )
        .await,
        json!([{"name": "Nolan", "films": [{"count": 2}]}, {"name": "Villeneuve", "films": [{"count": 2}]},
               {"name": "Nobody", "films": [{"count": 0}]}])
    );
    assert_eq!(
        get_ok(
            &app,
            "/rest/v1/directors?select=name,films(year.max(),year.min())&id=eq.2"
        )
        .await,
        json!([{"name": "Villeneuve", "films": [{"max": 2021, "min": 2016}]}])
    );
    // aggregate grouped by a to-one embed's columns
    assert_eq!(
        get_ok(&app, "/rest/v1/films?select=year.sum(),directors(name)&director_id=not.is.null&order=directors(name)").await
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn embeds_after_writes() {
    let app = TestApp::new(SCHEMA).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/films?select=title,directors(name),actors(name)",
            &[("prefer", "return=representation")],
            Some(r#"{"id": 10, "title": "Tenet", "year": 2020, "director_id": 1}"#),
        )
        .await;
    expect_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"title": "Tenet", "directors": {"name": "Nolan"}, "actors": []}])
    );
    let r = app
        .send(
            "PATCH",
            "/rest/v1/films?id=eq.10&select=title,directors(name)",
            &[("prefer", "return=representation")],
            Some(r#"{"director_id": 2}"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"title": "Tenet", "directors": {"name": "Villeneuve"}}])
    );
    let r = app
        .send(
            "DELETE",
            "/rest/v1/films?id=eq.10&select=id,directors(name)",
            &[("prefer", "return=representation")],
            None,
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id": 10, "directors": {"name": "Villeneuve"}}])
    );
    // a computed relationship over written rows
    let r = app
        .send(
            "POST",
            "/rest/v1/employees?select=name,boss(name)",
            &[("prefer", "return=representation")],
            Some(r#"{"id": 9, "name": "dave", "manager_id": 4}"#),
        )
        .await;
    expect_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"name": "dave", "boss": {"name": "carol"}}])
    );
}
