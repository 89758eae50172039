//! PostgREST 12.2 behaviours of the REST planner and emitter (issue #11), as our own cases
//! through the router against a real database: how an embed picks its relationship
//! (self-references, `!constraint` and `!column` hints, tables and views over one foreign key),
//! the PGRST200/201 texts, embed paths by alias or name and PGRST108; writes into views and
//! partitioned tables; the ways a function takes its request body whole.

mod common;

use common::{TestApp, expect_status};
use serde_json::{Value, json};

const EMBEDS: &str = r#"
create schema hidden;

create table public.clients (id int primary key, name text not null);
create table public.projects (
  id int primary key, name text not null,
  client_id int constraint client references public.clients(id)
);
create view public.projects_view as select id, name, client_id from public.projects;
create table public.tasks (
  id int primary key, name text not null,
  project_id int constraint project references public.projects(id)
);
insert into public.clients values (1, 'Acme'), (2, 'Globex');
insert into public.projects values (10, 'Rocket', 1), (11, 'Anvil', 1), (12, 'Laser', 2);
insert into public.tasks values (100, 'design', 10), (101, 'build', 10), (102, 'test', 12);

-- one self-reference
create table public.comments (
  id int primary key, body text not null, parent_id int references public.comments(id)
);
insert into public.comments values
  (1, 'root', null), (2, 'reply a', 1), (3, 'reply b', 1), (4, 'reply to a', 2);

-- two self-references and another parent
create table public.bosses (id int primary key, name text);
create table public.firms (
  id int primary key, name text,
  mentor int references public.firms(id),
  judge int references public.firms(id),
  boss_id int constraint boss references public.bosses(id)
);
insert into public.bosses values (1, 'Ann'), (2, 'Bob'), (3, 'Cid');
insert into public.firms values
  (1, 'Mentor Inc', null, null, 1), (2, 'Judge Inc', null, null, 2),
  (3, 'Small Co', 1, 2, 3), (4, 'Tiny Co', 1, 2, null);

-- a self-reference seen through a view over a hidden table
create table hidden.steps (id int primary key, previous_id int references hidden.steps(id));
create view public.steps as select id, previous_id from hidden.steps;
insert into hidden.steps values (1, null), (2, 1);

-- a table and a view over the same foreign key
create table public.people (id int primary key, name text not null);
create table public.letters (
  id int primary key, body text not null,
  sender int not null references public.people(id),
  recipient int not null references public.people(id)
);
create view public.people_stats as
  select p.id, p.name, (select count(*) from public.letters l where l.sender = p.id) as sent
  from public.people p;
insert into public.people values (1, 'Jo'), (2, 'Max');
insert into public.letters values (1, 'hello', 1, 2), (2, 'hi', 2, 1);

-- a composite foreign key, the referenced table also seen through a view
create table public.slots (id int, day int, label text, primary key (id, day));
create table public.shifts (
  id int primary key, slot_id int, slot_day int,
  constraint first_slot foreign key (slot_id, slot_day) references public.slots(id, day)
);
create view public.shifts_view as select id, slot_id, slot_day from public.shifts;
insert into public.slots values (1, 1, 'morning'), (2, 1, 'night');
insert into public.shifts values (7, 1, 1);

-- two references each way between two tables
create table public.agents (id int primary key, name text, team_id int);
create table public.teams (id int primary key, lead_id int references public.agents(id));
alter table public.agents add foreign key (team_id) references public.teams(id);

-- many-to-many through two junctions plus a direct reference
create table public.sites (id int primary key, main_venue_id int);
create table public.venues (id int primary key, name text);
alter table public.sites add constraint main_venue foreign key (main_venue_id)
  references public.venues(id);
create table public.bookings (
  site_id int references public.sites(id), venue_id int references public.venues(id),
  primary key (site_id, venue_id)
);
create table public.holds (
  site_id int references public.sites(id), venue_id int references public.venues(id),
  primary key (site_id, venue_id)
);
insert into public.venues values (1, 'hall'), (2, 'yard');
insert into public.sites values (1, 1), (2, null);
insert into public.bookings values (1, 1), (2, 1), (2, 2);
insert into public.holds values (2, 2);

grant usage on schema public to anon;
grant all on all tables in schema public to anon;
"#;

async fn embeds() -> TestApp {
    TestApp::new(EMBEDS).await
}

#[track_caller]
fn expect_json(r: &common::TestResponse, status: u16, body: Value) {
    expect_status(r, status);
    assert_eq!(r.json(), body, "body: {}", r.text);
}

// ----- self-references -----

#[tokio::test]
async fn a_self_reference_embeds_the_parent_by_column_and_children_by_table_name() {
    let app = embeds().await;
    // the FK column's name picks the many-to-one side
    let r = app
        .get("/rest/v1/comments?select=id,parent_id(id,body)&id=in.(1,4)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([
            {"id": 1, "parent_id": null},
            {"id": 4, "parent_id": {"id": 2, "body": "reply a"}}
        ]),
    );
    // aliased, and recursively
    let r = app
        .get("/rest/v1/comments?select=id,parent:parent_id(id,parent:parent_id(id))&id=eq.4")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 4, "parent": {"id": 2, "parent": {"id": 1}}}]),
    );
    // the table's name picks the one-to-many side
    let r = app
        .get("/rest/v1/comments?select=id,replies:comments(id)&id=in.(1,3)&order=id&replies.order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "replies": [{"id": 2}, {"id": 3}]}, {"id": 3, "replies": []}]),
    );
}

#[tokio::test]
async fn a_self_reference_hint_names_the_referencing_column_of_the_children() {
    let app = embeds().await;
    // `table!fk_column` is the one-to-many side, whatever the alias says
    let r = app
        .get("/rest/v1/comments?select=id,parent:comments!parent_id(id,body)&id=eq.2")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 2, "parent": [{"id": 4, "body": "reply to a"}]}]),
    );
    let r = app
        .get(
            "/rest/v1/comments?select=id,children:comments!parent_id(id,children:comments!parent_id(id))\
             &id=eq.1&children.order=id",
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "children": [
            {"id": 2, "children": [{"id": 4}]},
            {"id": 3, "children": []}
        ]}]),
    );
    // parent, then its children
    let r = app
        .get("/rest/v1/comments?select=id,parent_id(id,children:comments!parent_id(id))&id=eq.3&parent_id.children.order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 3, "parent_id": {"id": 1, "children": [{"id": 2}, {"id": 3}]}}]),
    );
    // the constraint's name is no hint for a self-reference
    let r = app
        .get("/rest/v1/comments?select=id,comments!comments_parent_id_fkey(id)")
        .await;
    expect_json(
        &r,
        400,
        json!({
            "code": "PGRST200",
            "message": "Could not find a relationship between 'comments' and 'comments' in the schema cache",
            "details": "Searched for a foreign key relationship between 'comments' and 'comments' using the hint 'comments_parent_id_fkey' in the schema 'public', but no matches were found.",
            "hint": null
        }),
    );
}

#[tokio::test]
async fn two_self_references_need_a_hint_for_the_children() {
    let app = embeds().await;
    let r = app
        .get("/rest/v1/firms?select=name,mentor(name),judge(name,boss(name))&id=eq.3")
        .await;
    expect_json(
        &r,
        200,
        json!([{"name": "Small Co", "mentor": {"name": "Mentor Inc"},
                "judge": {"name": "Judge Inc", "boss": {"name": "Bob"}}}]),
    );
    let r = app
        .get("/rest/v1/firms?select=name,mentees:firms!mentor(name,boss(name))&id=eq.1&mentees.order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"name": "Mentor Inc", "mentees": [
            {"name": "Small Co", "boss": {"name": "Cid"}},
            {"name": "Tiny Co", "boss": null}
        ]}]),
    );
    // without a hint the table's name means both one-to-many sides
    let r = app.get("/rest/v1/firms?select=name,firms(name)").await;
    expect_json(
        &r,
        300,
        json!({
            "code": "PGRST201",
            "message": "Could not embed because more than one relationship was found for 'firms' and 'firms'",
            "details": [
                {"cardinality": "one-to-many", "embedding": "firms with firms",
                 "relationship": "firms_judge_fkey using firms(id) and firms(judge)"},
                {"cardinality": "one-to-many", "embedding": "firms with firms",
                 "relationship": "firms_mentor_fkey using firms(id) and firms(mentor)"}
            ],
            "hint": "Try changing 'firms' to one of the following: 'firms!firms_judge_fkey', 'firms!firms_mentor_fkey'. Find the desired relationship in the 'details' key."
        }),
    );
}

#[tokio::test]
async fn a_view_over_a_hidden_self_referencing_table_embeds_both_ways() {
    let app = embeds().await;
    let r = app
        .get("/rest/v1/steps?select=id,previous_id(*),next:steps!previous_id(id)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([
            {"id": 1, "previous_id": null, "next": [{"id": 2}]},
            {"id": 2, "previous_id": {"id": 1, "previous_id": null}, "next": []}
        ]),
    );
}

// ----- hints, and tables vs views over one foreign key -----

#[tokio::test]
async fn constraint_and_column_names_pick_the_relationship() {
    let app = embeds().await;
    // the constraint's name as the embed
    let r = app
        .get("/rest/v1/projects?select=id,client(name)&id=in.(10,12)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 10, "client": {"name": "Acme"}}, {"id": 12, "client": {"name": "Globex"}}]),
    );
    // the FK column's name, aliased beside the column itself
    let r = app
        .get("/rest/v1/projects?select=id,client_id,c:client_id(name)&id=eq.12")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 12, "client_id": 2, "c": {"name": "Globex"}}]),
    );
    // `view!column` for the parent, then the grandparent by constraint
    let r = app
        .get("/rest/v1/tasks?select=id,p:projects_view!client_id(id)&id=eq.100")
        .await;
    expect_status(&r, 400);
    let r = app
        .get("/rest/v1/tasks?select=id,p:projects_view!project(name,client(name))&id=eq.100")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 100, "p": {"name": "Rocket", "client": {"name": "Acme"}}}]),
    );
    let r = app
        .get("/rest/v1/tasks?select=id,p:projects_view!project_id(name)&id=eq.102")
        .await;
    expect_json(&r, 200, json!([{"id": 102, "p": {"name": "Laser"}}]));
    // table!column on either side of the key
    let r = app
        .get("/rest/v1/letters?select=id,from:people!sender(name),to:people!recipient(name)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([
            {"id": 1, "from": {"name": "Jo"}, "to": {"name": "Max"}},
            {"id": 2, "from": {"name": "Max"}, "to": {"name": "Jo"}}
        ]),
    );
    let r = app
        .get("/rest/v1/clients?select=id,projects!client(id)&id=eq.2")
        .await;
    expect_json(&r, 200, json!([{"id": 2, "projects": [{"id": 12}]}]));
    // `view!constraint`
    let r = app
        .get("/rest/v1/letters?select=id,from:people_stats!letters_sender_fkey(name,sent)&id=eq.1")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "from": {"name": "Jo", "sent": 1}}]),
    );
}

#[tokio::test]
async fn column_and_constraint_names_mean_the_table_not_a_view_over_it() {
    let app = embeds().await;
    // `sender` reaches `people` and `people_stats`; the view is only taken by its own name
    let r = app
        .get("/rest/v1/letters?select=id,sender(id,name)&id=eq.2")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 2, "sender": {"id": 2, "name": "Max"}}]),
    );
    // a composite key's constraint, one-to-many to the table and not to its view
    let r = app
        .get("/rest/v1/slots?select=label,first_slot(id)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"label": "morning", "first_slot": [{"id": 7}]}, {"label": "night", "first_slot": []}]),
    );
    // and a view by its own name, hinted by the column
    let r = app
        .get("/rest/v1/letters?select=id,people_stats!sender(name)&id=eq.1")
        .await;
    expect_json(&r, 200, json!([{"id": 1, "people_stats": {"name": "Jo"}}]));
}

#[tokio::test]
async fn an_unknown_hint_is_pgrst200_with_the_hint_in_details() {
    let app = embeds().await;
    let r = app
        .get("/rest/v1/letters?select=id,people!nowhere(name)")
        .await;
    expect_json(
        &r,
        400,
        json!({
            "code": "PGRST200",
            "message": "Could not find a relationship between 'letters' and 'people' in the schema cache",
            "details": "Searched for a foreign key relationship between 'letters' and 'people' using the hint 'nowhere' in the schema 'public', but no matches were found.",
            "hint": null
        }),
    );
    // a near miss of a related name is suggested
    let r = app.get("/rest/v1/letters?select=id,peple(name)").await;
    expect_json(
        &r,
        400,
        json!({
            "code": "PGRST200",
            "message": "Could not find a relationship between 'letters' and 'peple' in the schema cache",
            "details": "Searched for a foreign key relationship between 'letters' and 'peple' in the schema 'public', but no matches were found.",
            "hint": "Perhaps you meant 'people' instead of 'peple'."
        }),
    );
}

#[tokio::test]
async fn ambiguous_embeds_list_every_relationship_as_v12_does() {
    let app = embeds().await;
    let r = app.get("/rest/v1/agents?select=*,teams(*)").await;
    expect_json(
        &r,
        300,
        json!({
            "code": "PGRST201",
            "message": "Could not embed because more than one relationship was found for 'agents' and 'teams'",
            "details": [
                {"cardinality": "one-to-many", "embedding": "agents with teams",
                 "relationship": "teams_lead_id_fkey using agents(id) and teams(lead_id)"},
                {"cardinality": "many-to-one", "embedding": "agents with teams",
                 "relationship": "agents_team_id_fkey using agents(team_id) and teams(id)"}
            ],
            "hint": "Try changing 'teams' to one of the following: 'teams!teams_lead_id_fkey', 'teams!agents_team_id_fkey'. Find the desired relationship in the 'details' key."
        }),
    );
    let r = app.get("/rest/v1/sites?select=*,venues(*)").await;
    expect_json(
        &r,
        300,
        json!({
            "code": "PGRST201",
            "message": "Could not embed because more than one relationship was found for 'sites' and 'venues'",
            "details": [
                {"cardinality": "many-to-one", "embedding": "sites with venues",
                 "relationship": "main_venue using sites(main_venue_id) and venues(id)"},
                {"cardinality": "many-to-many", "embedding": "sites with venues",
                 "relationship": "bookings using bookings_site_id_fkey(site_id) and bookings_venue_id_fkey(venue_id)"},
                {"cardinality": "many-to-many", "embedding": "sites with venues",
                 "relationship": "holds using holds_site_id_fkey(site_id) and holds_venue_id_fkey(venue_id)"}
            ],
            "hint": "Try changing 'venues' to one of the following: 'venues!main_venue', 'venues!bookings', 'venues!holds'. Find the desired relationship in the 'details' key."
        }),
    );
    // each of them by its hint, or by the FK column
    let r = app
        .get("/rest/v1/sites?select=id,venues!bookings(name)&order=id&venues.order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "venues": [{"name": "hall"}]},
               {"id": 2, "venues": [{"name": "hall"}, {"name": "yard"}]}]),
    );
    let r = app
        .get("/rest/v1/sites?select=id,venues!holds(name)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "venues": []}, {"id": 2, "venues": [{"name": "yard"}]}]),
    );
    let r = app
        .get("/rest/v1/sites?select=id,main_venue_id(name)&order=id")
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "main_venue_id": {"name": "hall"}}, {"id": 2, "main_venue_id": null}]),
    );
    let r = app
        .get("/rest/v1/sites?select=id,main_venue(name)&id=eq.1")
        .await;
    expect_json(&r, 200, json!([{"id": 1, "main_venue": {"name": "hall"}}]));
}

// ----- embed paths: alias or name; not embedded → PGRST108 -----

#[tokio::test]
async fn embed_filters_and_order_address_an_embed_by_alias_or_relation() {
    let app = embeds().await;
    let by_alias = app
        .get("/rest/v1/projects?select=id,jobs:tasks(name)&id=eq.10&jobs.order=name.desc")
        .await;
    let by_name = app
        .get("/rest/v1/projects?select=id,jobs:tasks(name)&id=eq.10&tasks.order=name.desc")
        .await;
    let expected = json!([{"id": 10, "jobs": [{"name": "design"}, {"name": "build"}]}]);
    expect_json(&by_alias, 200, expected.clone());
    expect_json(&by_name, 200, expected);
    let r = app
        .get(
            "/rest/v1/clients?select=id,work:projects(id,todo:tasks(name))&id=eq.1\
              &projects.order=id&projects.tasks.name=eq.build&work.limit=1",
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 1, "work": [{"id": 10, "todo": [{"name": "build"}]}]}]),
    );
}

#[tokio::test]
async fn paths_to_embeds_not_in_select_are_pgrst108() {
    let app = embeds().await;
    let not_embedded = |name: &str| {
        json!({
            "code": "PGRST108",
            "message": format!("'{name}' is not an embedded resource in this request"),
            "details": null,
            "hint": format!("Verify that '{name}' is included in the 'select' query parameter.")
        })
    };
    let r = app
        .get("/rest/v1/clients?select=id&projects.name=eq.x")
        .await;
    expect_json(&r, 400, not_embedded("projects"));
    let r = app
        .get("/rest/v1/clients?select=id,work:projects(id)&workz.name=eq.x")
        .await;
    expect_json(&r, 400, not_embedded("workz"));
    // the first step that names nothing, however deep
    let r = app
        .get("/rest/v1/clients?select=id,projects(id,tasks(id))&projects.taskz.id=eq.1")
        .await;
    expect_json(&r, 400, not_embedded("taskz"));
    let r = app
        .get("/rest/v1/clients?select=id&nothing.deeper.id=eq.1")
        .await;
    expect_json(&r, 400, not_embedded("nothing"));
    // order, limit and or= on a missing embed
    let r = app
        .get("/rest/v1/clients?select=id&projects.order=id")
        .await;
    expect_json(&r, 400, not_embedded("projects"));
    let r = app.get("/rest/v1/clients?select=id&projects.limit=1").await;
    expect_json(&r, 400, not_embedded("projects"));
    let r = app
        .get("/rest/v1/clients?select=id&projects.or=(id.eq.1,id.eq.2)")
        .await;
    expect_json(&r, 400, not_embedded("projects"));
    // a related order on an embed that is not there
    let r = app
        .get("/rest/v1/projects?select=id,client(name)&order=clientz(name)")
        .await;
    expect_json(&r, 400, not_embedded("clientz"));
    // v12 resolves the paths before it looks for relationships
    let r = app
        .get("/rest/v1/clients?select=id,nowhere(id)&elsewhere.id=eq.1")
        .await;
    expect_json(&r, 400, not_embedded("elsewhere"));
    // a related order on a to-many embed stays PGRST118
    let r = app
        .get("/rest/v1/clients?select=id,work:projects(id)&order=work(id)")
        .await;
    expect_json(
        &r,
        400,
        json!({
            "code": "PGRST118",
            "message": "A related order on 'work' is not possible",
            "details": "'clients' and 'work' do not form a many-to-one or one-to-one relationship",
            "hint": null
        }),
    );
}

// ----- writes into views and partitioned tables -----

const WRITES: &str = r#"
create table public.articles (id int primary key, title text not null, body text default '');
create view public.articles_view as select id, title from public.articles;
insert into public.articles values (1, 'one', 'x'), (2, 'two', 'y');

create table public.brands (name text primary key);
create table public.models (
  name text not null, year int not null, brand_name text references public.brands(name),
  primary key (name, year)
) partition by list (year);
create table public.models_2021 partition of public.models for values in (2021);
create table public.models_other partition of public.models default;
insert into public.brands values ('Acme'), ('Zed');
insert into public.models values ('Rocket', 2021, 'Acme'), ('Sled', 1999, 'Zed');

grant usage on schema public to anon;
grant all on all tables in schema public to anon;
"#;

const REPR: (&str, &str) = ("prefer", "return=representation");

#[tokio::test]
async fn inserts_and_upserts_into_an_auto_updatable_view() {
    let app = TestApp::new(WRITES).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/articles_view",
            &[REPR],
            Some(r#"{"id": 3, "title": "three"}"#),
        )
        .await;
    expect_json(&r, 201, json!([{"id": 3, "title": "three"}]));
    // one inserted, one updated: created
    let merge = (
        "prefer",
        "return=representation,resolution=merge-duplicates",
    );
    let r = app
        .send(
            "POST",
            "/rest/v1/articles_view?on_conflict=id",
            &[merge],
            Some(r#"[{"id": 1, "title": "ONE"}, {"id": 4, "title": "four"}]"#),
        )
        .await;
    expect_json(
        &r,
        201,
        json!([{"id": 1, "title": "ONE"}, {"id": 4, "title": "four"}]),
    );
    // every row updated: 200
    let r = app
        .send(
            "POST",
            "/rest/v1/articles_view",
            &[merge],
            Some(r#"[{"id": 2, "title": "TWO"}, {"id": 4, "title": "FOUR"}]"#),
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"id": 2, "title": "TWO"}, {"id": 4, "title": "FOUR"}]),
    );
    // the same without a body to return
    let r = app
        .send(
            "POST",
            "/rest/v1/articles_view",
            &[("prefer", "resolution=merge-duplicates")],
            Some(r#"[{"id": 2, "title": "two again"}]"#),
        )
        .await;
    expect_status(&r, 200);
    assert_eq!(r.text, "");
    let r = app
        .send(
            "POST",
            "/rest/v1/articles_view",
            &[("prefer", "resolution=merge-duplicates")],
            Some(r#"[{"id": 5, "title": "five"}]"#),
        )
        .await;
    expect_status(&r, 201);
    // nothing in the body: nothing inserted, 200
    let r = app
        .send("POST", "/rest/v1/articles_view", &[merge], Some("[]"))
        .await;
    expect_json(&r, 200, json!([]));
    // ignoring duplicates is always created, even when every row was a duplicate
    let r = app
        .send(
            "POST",
            "/rest/v1/articles_view",
            &[(
                "prefer",
                "return=representation,resolution=ignore-duplicates",
            )],
            Some(r#"[{"id": 1, "title": "ignored"}]"#),
        )
        .await;
    expect_json(&r, 201, json!([]));
    // PUT: created, then updated
    let r = app
        .send(
            "PUT",
            "/rest/v1/articles_view?id=eq.9",
            &[REPR],
            Some(r#"{"id": 9, "title": "nine"}"#),
        )
        .await;
    expect_json(&r, 201, json!([{"id": 9, "title": "nine"}]));
    let r = app
        .send(
            "PUT",
            "/rest/v1/articles_view?id=eq.9",
            &[REPR],
            Some(r#"{"id": 9, "title": "NINE"}"#),
        )
        .await;
    expect_json(&r, 200, json!([{"id": 9, "title": "NINE"}]));
    let titles = app
        .sql_texts("select string_agg(id || ':' || title, ',' order by id) from public.articles")
        .await;
    assert_eq!(
        titles,
        vec![Some(
            "1:ONE,2:two again,3:three,4:FOUR,5:five,9:NINE".to_string()
        )]
    );
}

#[tokio::test]
async fn inserts_and_upserts_into_a_partitioned_table() {
    let app = TestApp::new(WRITES).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/models",
            &[REPR],
            Some(r#"[{"name": "Jet", "year": 2021, "brand_name": "Acme"}, {"name": "Cart", "year": 1990, "brand_name": null}]"#),
        )
        .await;
    expect_json(
        &r,
        201,
        json!([{"name": "Jet", "year": 2021, "brand_name": "Acme"},
               {"name": "Cart", "year": 1990, "brand_name": null}]),
    );
    let merge = (
        "prefer",
        "return=representation,resolution=merge-duplicates",
    );
    let r = app
        .send(
            "POST",
            "/rest/v1/models?select=name,brands(name)",
            &[merge],
            Some(r#"[{"name": "Cart", "year": 1990, "brand_name": "Zed"}, {"name": "Kite", "year": 2021, "brand_name": "Acme"}]"#),
        )
        .await;
    expect_json(
        &r,
        201,
        json!([{"name": "Cart", "brands": {"name": "Zed"}},
               {"name": "Kite", "brands": {"name": "Acme"}}]),
    );
    let r = app
        .send(
            "POST",
            "/rest/v1/models",
            &[merge],
            Some(r#"[{"name": "Kite", "year": 2021, "brand_name": "Zed"}]"#),
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"name": "Kite", "year": 2021, "brand_name": "Zed"}]),
    );
    let r = app
        .send(
            "PUT",
            "/rest/v1/models?name=eq.Boat&year=eq.2021",
            &[REPR],
            Some(r#"{"name": "Boat", "year": 2021}"#),
        )
        .await;
    expect_json(
        &r,
        201,
        json!([{"name": "Boat", "year": 2021, "brand_name": null}]),
    );
    let r = app
        .send(
            "PUT",
            "/rest/v1/models?name=eq.Boat&year=eq.2021",
            &[REPR],
            Some(r#"{"name": "Boat", "year": 2021, "brand_name": "Acme"}"#),
        )
        .await;
    expect_json(
        &r,
        200,
        json!([{"name": "Boat", "year": 2021, "brand_name": "Acme"}]),
    );
    let r = app
        .send(
            "PUT",
            "/rest/v1/models?name=eq.Boat&year=eq.2021",
            &[],
            Some(r#"{"name": "Boat", "year": 2021, "brand_name": "Zed"}"#),
        )
        .await;
    expect_status(&r, 204);
    // the rows went to their partitions
    let placed = app
        .sql_texts(
            "select string_agg(tableoid::regclass || ':' || name, ',' order by name) from public.models",
        )
        .await;
    assert_eq!(
        placed,
        vec![Some(
            "models_2021:Boat,models_other:Cart,models_2021:Jet,models_2021:Kite,\
             models_2021:Rocket,models_other:Sled"
                .to_string()
        )]
    );
}

#[tokio::test]
async fn partitions_are_not_embeddable() {
    let app = TestApp::new(WRITES).await;
    let r = app
        .get("/rest/v1/models?select=name,brands(name)&order=name")
        .await;
    expect_json(
        &r,
        200,
        json!([{"name": "Rocket", "brands": {"name": "Acme"}},
               {"name": "Sled", "brands": {"name": "Zed"}}]),
    );
    let r = app
        .get("/rest/v1/brands?select=name,models(name)&order=name")
        .await;
    expect_json(
        &r,
        200,
        json!([{"name": "Acme", "models": [{"name": "Rocket"}]},
               {"name": "Zed", "models": [{"name": "Sled"}]}]),
    );
    // a partition as the embed, also before an unknown column is noticed
    let r = app.get("/rest/v1/brands?select=id,models_2021(id)").await;
    expect_json(
        &r,
        400,
        json!({
            "code": "PGRST200",
            "message": "Could not find a relationship between 'brands' and 'models_2021' in the schema cache",
            "details": "Searched for a foreign key relationship between 'brands' and 'models_2021' in the schema 'public', but no matches were found.",
            "hint": "Perhaps you meant 'models' instead of 'models_2021'."
        }),
    );
    // a partition as the origin has no relationships
    let r = app
        .get("/rest/v1/models_2021?select=name,brands(name)")
        .await;
    expect_json(
        &r,
        400,
        json!({
            "code": "PGRST200",
            "message": "Could not find a relationship between 'models_2021' and 'brands' in the schema cache",
            "details": "Searched for a foreign key relationship between 'models_2021' and 'brands' in the schema 'public', but no matches were found.",
            "hint": "Perhaps you meant 'models' instead of 'models_2021'."
        }),
    );
}

// ----- the request body as a function's only argument -----

const CALLS: &str = r#"
create function public.whole_json(json) returns json language sql as $$ select $1 $$;
create function public.whole_jsonb(jsonb) returns jsonb language sql
  as $$ select $1 || '{"seen": true}' $$;
create function public.whole_text(text) returns text language sql as $$ select upper($1) $$;
create function public.whole_xml(xml) returns text language sql
  as $$ select (xpath('/note/to/text()', $1))[1]::text $$;
create function public.whole_bytes(bytea) returns text language sql
  as $$ select encode($1, 'hex') $$;
create function public.only_int(int) returns int language sql as $$ select $1 $$;
create function public.named_obj(payload json) returns json language sql as $$ select payload $$;
create function public.greet(name text) returns text language sql as $$ select 'Hello, ' || name $$;
create function public.rows_of() returns setof int language sql as $$ values (1), (2) $$;
create function public.rows_of(json) returns table (x int, y text) language sql
  as $$ select * from json_to_recordset($1) as r(x int, y text) $$;

create function public.many_body() returns int language sql as $$ select 1 $$;
create function public.many_body(json) returns json language sql as $$ select $1 $$;
create function public.many_body(text) returns text language sql as $$ select 'text:' || $1 $$;
create function public.many_body(bytea) returns int language sql as $$ select length($1) $$;
create function public.many_body(x int, y int) returns int language sql as $$ select x + y $$;
create function public.json_or_jsonb(json) returns json language sql as $$ select $1 $$;
create function public.json_or_jsonb(jsonb) returns jsonb language sql as $$ select $1 $$;
create function public.json_or_jsonb(x int, y int) returns int language sql as $$ select x + y $$;

grant usage on schema public to anon;
grant execute on all functions in schema public to anon;
"#;

const SINGLE_OBJECT: (&str, &str) = ("prefer", "params=single-object");

/// POSTs raw bytes (which need not be UTF-8) with a Content-Type.
async fn post_bytes(
    app: &TestApp,
    uri: &str,
    content_type: &str,
    body: &[u8],
) -> common::TestResponse {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", content_type)
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request");
    let response = pgbase::server::app(app.state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    common::TestResponse {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

#[tokio::test]
async fn params_single_object_passes_the_whole_body_to_one_json_parameter() {
    let app = TestApp::new(CALLS).await;
    let body = r#"{"a": 1, "b": [1, 2], "c": {"d": "e"}}"#;
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/named_obj",
            &[SINGLE_OBJECT],
            Some(body),
        )
        .await;
    expect_json(&r, 200, json!({"a": 1, "b": [1, 2], "c": {"d": "e"}}));
    // without the preference the keys are argument names
    let r = app
        .send("POST", "/rest/v1/rpc/named_obj", &[], Some(body))
        .await;
    expect_status(&r, 404);
    // a JSON array goes whole, to the overload taking json
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/rows_of",
            &[SINGLE_OBJECT],
            Some(r#"[{"x": 1, "y": "one"}, {"x": 2, "y": "two"}]"#),
        )
        .await;
    expect_json(&r, 200, json!([{"x": 1, "y": "one"}, {"x": 2, "y": "two"}]));
    // query-string and form arguments become one object of texts
    let r = app
        .get_with("/rest/v1/rpc/named_obj?p1=1&p2=text", &[SINGLE_OBJECT])
        .await;
    expect_json(&r, 200, json!({"p1": "1", "p2": "text"}));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/named_obj",
            &[
                SINGLE_OBJECT,
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some("n=7&s=forms+are+fun"),
        )
        .await;
    expect_json(&r, 200, json!({"n": "7", "s": "forms are fun"}));
    // a function without a single json parameter is not found
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/greet",
            &[SINGLE_OBJECT],
            Some(r#"{"name": "Jo"}"#),
        )
        .await;
    expect_json(
        &r,
        404,
        json!({
            "code": "PGRST202",
            "message": "Could not find the function public.greet in the schema cache",
            "details": "Searched for the function public.greet with a single json/jsonb parameter, but no matches were found in the schema cache.",
            "hint": null
        }),
    );
}

#[tokio::test]
async fn a_single_unnamed_parameter_takes_the_raw_body_of_its_type() {
    let app = TestApp::new(CALLS).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/whole_json",
            &[],
            Some(r#"{"A": 1, "B": [true, null]}"#),
        )
        .await;
    expect_json(&r, 200, json!({"A": 1, "B": [true, null]}));
    let r = app
        .send("POST", "/rest/v1/rpc/whole_jsonb", &[], Some(r#"{"A": 1}"#))
        .await;
    expect_json(&r, 200, json!({"A": 1, "seen": true}));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/whole_text",
            &[("content-type", "text/plain")],
            Some("unnamed text, {not json}"),
        )
        .await;
    expect_json(&r, 200, json!("UNNAMED TEXT, {NOT JSON}"));
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/whole_xml",
            &[("content-type", "text/xml")],
            Some("<note><from>Jo</from><to>Max</to></note>"),
        )
        .await;
    expect_json(&r, 200, json!("Max"));
    // bytes that are no text: NUL and invalid UTF-8
    let r = post_bytes(
        &app,
        "/rest/v1/rpc/whole_bytes",
        "application/octet-stream",
        &[0x00, 0xff, 0x89, 0x50, 0x4e, 0x47],
    )
    .await;
    expect_json(&r, 200, json!("00ff89504e47"));
}

#[tokio::test]
async fn no_single_unnamed_parameter_of_the_body_type_is_pgrst202() {
    let app = TestApp::new(CALLS).await;
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/only_int",
            &[],
            Some(r#"{"x": 1, "y": 2}"#),
        )
        .await;
    expect_status(&r, 404);
    let body = r.json();
    assert_eq!(body["code"], "PGRST202");
    assert_eq!(
        body["message"],
        "Could not find the function public.only_int(x, y) in the schema cache"
    );
    assert_eq!(
        body["details"],
        "Searched for the function public.only_int with parameters x, y or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."
    );
    // a function with an unnamed int parameter cannot be called at all: no overload to hint
    assert_eq!(body["hint"], Value::Null);
    let r = app.get("/rest/v1/rpc/only_int").await;
    expect_status(&r, 404);
    for (content_type, kind) in [
        ("text/plain", "text"),
        ("text/xml", "xml"),
        ("application/octet-stream", "bytea"),
    ] {
        let r = post_bytes(&app, "/rest/v1/rpc/only_int", content_type, b"12").await;
        expect_json(
            &r,
            404,
            json!({
                "code": "PGRST202",
                "message": "Could not find the function public.only_int in the schema cache",
                "details": format!("Searched for the function public.only_int with a single unnamed {kind} parameter, but no matches were found in the schema cache."),
                "hint": null
            }),
        );
    }
}

#[tokio::test]
async fn named_overloads_come_before_the_single_unnamed_parameter() {
    let app = TestApp::new(CALLS).await;
    let post = |body: &'static str| app.send("POST", "/rest/v1/rpc/many_body", &[], Some(body));
    expect_json(&post("{}").await, 200, json!(1));
    expect_json(&post(r#"{"x": 1, "y": 2}"#).await, 200, json!(3));
    // no overload takes these names: the json one takes the body
    expect_json(
        &post(r#"{"A": 1, "B": 2}"#).await,
        200,
        json!({"A": 1, "B": 2}),
    );
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/many_body",
            &[("content-type", "text/plain")],
            Some("abc"),
        )
        .await;
    expect_json(&r, 200, json!("text:abc"));
    let r = post_bytes(
        &app,
        "/rest/v1/rpc/many_body",
        "application/octet-stream",
        &[1, 2, 3, 4, 5],
    )
    .await;
    expect_json(&r, 200, json!(5));
    // GET takes no body, whatever its Content-Type
    expect_json(&app.get("/rest/v1/rpc/many_body").await, 200, json!(1));
    let r = app
        .get_with("/rest/v1/rpc/many_body", &[("content-type", "text/plain")])
        .await;
    expect_json(&r, 200, json!(1));
    // a CSV body names arguments by its header; no unnamed parameter takes it
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/many_body",
            &[("content-type", "text/csv")],
            Some("a,b\n1,2"),
        )
        .await;
    expect_status(&r, 404);
    assert_eq!(
        r.json()["message"],
        "Could not find the function public.many_body(a, b) in the schema cache"
    );
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/many_body",
            &[("content-type", "text/csv")],
            Some("x,y\n1,2"),
        )
        .await;
    expect_json(&r, 200, json!(3));
    // two unnamed parameters that could take a JSON body
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/json_or_jsonb",
            &[],
            Some(r#"{"A": 1}"#),
        )
        .await;
    expect_json(
        &r,
        300,
        json!({
            "code": "PGRST203",
            "message": "Could not choose the best candidate function between: public.json_or_jsonb( => json), public.json_or_jsonb( => jsonb)",
            "details": null,
            "hint": "Try renaming the parameters or the function itself in the database so function overloading can be resolved"
        }),
    );
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/json_or_jsonb",
            &[],
            Some(r#"{"x": 1, "y": 2}"#),
        )
        .await;
    expect_json(&r, 200, json!(3));
    // Postgres judges the raw body
    let r = app
        .send(
            "POST",
            "/rest/v1/rpc/whole_xml",
            &[("content-type", "text/xml")],
            Some("<"),
        )
        .await;
    expect_status(&r, 400);
    assert_eq!(r.json()["code"], "2200N");
    expect_json(
        &app.get("/rest/v1/rpc/many_body?x=4&y=5").await,
        200,
        json!(9),
    );
}

#[tokio::test]
async fn location_names_one_inserted_row_as_v12_encodes_it() {
    let app = TestApp::new(
        r#"
        create table public.sponsors (id int primary key);
        create table public.racers (id int primary key, sponsor_id int references public.sponsors(id));
        create view public.racers_sponsors as
          select r.id, s.id as sponsor_id from public.racers r left join public.sponsors s on s.id = r.sponsor_id;
        create rule racers_sponsors_insert as on insert to public.racers_sponsors do instead
          insert into public.racers (id, sponsor_id) values (new.id, new.sponsor_id)
          returning id, sponsor_id;
        create table public.words (k text primary key, note text);
        create table public.pairs (b int, a text, primary key (a, b));
        grant usage on schema public to anon;
        grant all on all tables in schema public to anon;
        "#,
    )
    .await;
    let headers_only = [("prefer", "return=headers-only")];
    // a null key column is `is.null` (a view keyed by the columns of two tables)
    let r = app
        .send(
            "POST",
            "/rest/v1/racers_sponsors",
            &headers_only,
            Some(r#"{"id": 1}"#),
        )
        .await;
    expect_status(&r, 201);
    assert_eq!(
        r.header("location"),
        Some("/racers_sponsors?id=eq.1&sponsor_id=is.null")
    );
    // values percent-encoded; the URL finds the row
    let r = app
        .send(
            "POST",
            "/rest/v1/words",
            &headers_only,
            Some(r#"{"k": "圍棋 & co", "note": "x"}"#),
        )
        .await;
    expect_status(&r, 201);
    let location = r.header("location").expect("location").to_string();
    assert_eq!(location, "/words?k=eq.%E5%9C%8D%E6%A3%8B+%26+co");
    let r = app.get(&format!("/rest/v1{location}")).await;
    expect_json(&r, 200, json!([{"k": "圍棋 & co", "note": "x"}]));
    // key columns in the table's column order
    let r = app
        .send(
            "POST",
            "/rest/v1/pairs",
            &headers_only,
            Some(r#"{"a": "x", "b": 2}"#),
        )
        .await;
    assert_eq!(r.header("location"), Some("/pairs?b=eq.2&a=eq.x"));
    // several rows: no Location
    let r = app
        .send(
            "POST",
            "/rest/v1/pairs",
            &headers_only,
            Some(r#"[{"a": "y", "b": 1}, {"a": "z", "b": 1}]"#),
        )
        .await;
    expect_status(&r, 201);
    assert_eq!(r.header("location"), None);
    assert_eq!(r.header("content-range"), Some("*/*"));
}

#[tokio::test]
async fn upserts_without_conflict_columns_insert_plainly() {
    let app = TestApp::new(
        r#"
        create table public.labels (name text unique, n int);
        insert into public.labels values ('a', 1);
        grant usage on schema public to anon;
        grant all on all tables in schema public to anon;
        "#,
    )
    .await;
    // no primary key and no on_conflict: no ON CONFLICT, so a duplicate is a conflict
    for resolution in ["merge-duplicates", "ignore-duplicates"] {
        let prefer = format!("return=representation,resolution={resolution}");
        let r = app
            .send(
                "POST",
                "/rest/v1/labels",
                &[("prefer", &prefer)],
                Some(r#"{"name": "a", "n": 2}"#),
            )
            .await;
        expect_status(&r, 409);
        assert_eq!(r.json()["code"], "23505");
    }
    let r = app
        .send(
            "POST",
            "/rest/v1/labels",
            &[(
                "prefer",
                "return=representation,resolution=merge-duplicates",
            )],
            Some(r#"{"name": "b", "n": 2}"#),
        )
        .await;
    expect_json(&r, 201, json!([{"name": "b", "n": 2}]));
    // with on_conflict naming the unique column it merges
    let r = app
        .send(
            "POST",
            "/rest/v1/labels?on_conflict=name",
            &[(
                "prefer",
                "return=representation,resolution=merge-duplicates",
            )],
            Some(r#"{"name": "a", "n": 3}"#),
        )
        .await;
    expect_json(&r, 200, json!([{"name": "a", "n": 3}]));
}
