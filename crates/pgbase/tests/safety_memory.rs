//! Memory of large responses is given back: a connection that carried a response above 8 MiB
//! is closed after the request instead of going back to the pool with a read buffer of that
//! size; ordinary responses keep their connection.

mod common;

use common::{TestApp, expect_status};
use pgbase::config::Settings;

const SETUP: &str = "
create function public.backend() returns int language sql stable as $$ select pg_backend_pid() $$;
create function public.big(mib int) returns text language sql stable as $$
  select repeat('x', mib * 1024 * 1024) $$;
grant execute on function public.backend() to anon;
grant execute on function public.big(int) to anon;
";

async fn backend(app: &TestApp) -> String {
    let r = app.get("/rest/v1/rpc/backend").await;
    expect_status(&r, 200);
    r.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_carried_a_huge_body_is_not_pooled_again() {
    let settings = Settings {
        db_pool: Some(1),
        ..Settings::default()
    };
    let app = TestApp::with_settings(SETUP, settings).await;
    let first = backend(&app).await;
    let r = app.get("/rest/v1/rpc/big?mib=1").await;
    expect_status(&r, 200);
    assert_eq!(
        backend(&app).await,
        first,
        "a 1 MiB body must not cost the connection"
    );

    let r = app.get("/rest/v1/rpc/big?mib=12").await;
    expect_status(&r, 200);
    assert!(r.text.len() > 12 * 1024 * 1024);
    assert_ne!(
        backend(&app).await,
        first,
        "the connection kept a 12 MiB read buffer"
    );
}
