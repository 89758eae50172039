//! Pooled connections do not outlive the schema they prepared statements against: after an
//! enum type is dropped and re-created, requests keep working (no `cache lookup failed for
//! type N`).

mod common;

use common::{TestApp, expect_status};

const SETUP: &str = "
create type public.mood as enum ('happy', 'sad');
create table public.people (id int primary key, mood public.mood not null);
insert into public.people values (1, 'happy'), (2, 'sad');
grant select on public.people to anon;
create function public.moods(m public.mood) returns setof public.people language sql stable
  as $$ select * from public.people where mood = m $$;
grant execute on function public.moods(public.mood) to anon;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_survive_an_enum_being_dropped_and_recreated() {
    let app = TestApp::new(SETUP).await;
    // Warm every pooled connection's statement cache with statements naming the type.
    for _ in 0..20 {
        expect_status(
            &app.get("/rest/v1/people?mood=eq.happy&select=id,mood")
                .await,
            200,
        );
        expect_status(&app.get("/rest/v1/rpc/moods?m=sad").await, 200);
    }
    let version = app.state.catalog.version();
    app.client()
        .await
        .batch_execute(
            "drop function public.moods(public.mood);
             drop table public.people;
             drop type public.mood;
             create type public.mood as enum ('happy', 'sad', 'calm');
             create table public.people (id int primary key, mood public.mood not null);
             insert into public.people values (3, 'calm'), (4, 'sad');
             grant select on public.people to anon;
             create function public.moods(m public.mood) returns setof public.people language sql stable
               as $$ select * from public.people where mood = m $$;
             grant execute on function public.moods(public.mood) to anon;
             notify pgrst, 'reload schema';",
        )
        .await
        .expect("recreate");
    app.wait_for_reload(version).await;
    for _ in 0..20 {
        let r = app.get("/rest/v1/people?mood=eq.sad&select=id,mood").await;
        expect_status(&r, 200);
        assert_eq!(r.json(), serde_json::json!([{"id": 4, "mood": "sad"}]));
        let r = app.get("/rest/v1/rpc/moods?m=calm").await;
        expect_status(&r, 200);
        assert_eq!(r.json(), serde_json::json!([{"id": 3, "mood": "calm"}]));
    }
}
