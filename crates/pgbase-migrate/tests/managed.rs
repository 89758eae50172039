//! Installing and upgrading the system schemas as a managed database's owner: a login with
//! CREATEROLE and no superuser, owning its database (as RDS, Cloud SQL, Azure and Neon hand out).
//! What the login may not do (here: create the DDL event trigger) is tried, and its refusal is a
//! NOTICE, never a failure, on a new database and on an upgrade from an earlier release's 0001.
//! A superuser's database gets `service_role` with BYPASSRLS and the trigger.
//!
//! The harness cluster's `service_role` was made by a superuser (with BYPASSRLS), so the owner's
//! side of BYPASSRLS is tested on a private cluster in `crates/pgbase/tests/managed_stack.rs`.

use std::sync::{Arc, Mutex};

use pgbase_migrate::migrate;
use tokio_postgres::{AsyncMessage, Client, Config};

/// The NOTICE of 0001 (and its upgrade) when the login may not create event triggers.
const NO_TRIGGER_NOTICE: &str = "NOTICE: pgbase: this login may not create event triggers, so no DDL event trigger; run NOTIFY pgrst, 'reload schema' after DDL outside pgbase migrate";

/// The DDL event trigger of the connected database: name, event, function, enabled state.
const EVENT_TRIGGER: &str = "select coalesce((select evtname || ' ' || evtevent || ' '
    || evtfoid::regprocedure::text || ' ' || evtenabled::text
  from pg_event_trigger where evtname = 'pgbase_ddl_end'), '')";

/// Connects, keeping every WARNING and NOTICE the server sends as `SEVERITY: message`.
async fn connect_keeping_notices(config: &Config) -> (Client, Arc<Mutex<Vec<String>>>) {
    let (client, mut connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notice(notice)) => sink.lock().expect("notices").push(format!(
                    "{}: {}",
                    notice.severity(),
                    notice.message()
                )),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    (client, notices)
}

/// The notices kept so far that start with `pgbase:` (Postgres' own, such as "… does not
/// exist, skipping", left out), emptying the list.
fn pgbase_notices(notices: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *notices.lock().expect("notices"))
        .into_iter()
        .filter(|n| {
            n.split_once(": ")
                .is_some_and(|(_, m)| m.starts_with("pgbase:"))
        })
        .collect()
}

async fn text(client: &Client, query: &str) -> String {
    client.query_one(query, &[]).await.expect(query).get(0)
}

#[tokio::test]
async fn a_createrole_owner_installs_the_system_schemas() {
    let db = pgbase_testkit::test_db().await;
    let admin = db.connect().await;
    let owner = format!("{}_owner", db.name);
    let name = format!("{}_managed", db.name);
    admin
        .batch_execute(&format!("create role {owner} login createrole"))
        .await
        .expect("owner");
    admin
        .batch_execute(&format!(
            "create database {name} owner {owner} template template0"
        ))
        .await
        .expect("database");
    let mut config = db.config.clone();
    config.dbname(&name).user(&owner);
    let (mut client, notices) = connect_keeping_notices(&config).await;

    let report = migrate(&mut client, None).await;
    let report = report.unwrap_or_else(|e| panic!("migrate as a CREATEROLE owner: {e}"));
    assert_eq!(
        report.system_applied.len(),
        pgbase_migrate::SYSTEM_SCHEMAS.len()
    );
    // The event trigger was tried and refused (Postgres: only a superuser); service_role
    // already has BYPASSRLS (made by the harness's superuser), so nothing else is said.
    assert_eq!(pgbase_notices(&notices), [NO_TRIGGER_NOTICE]);
    assert_eq!(text(&client, EVENT_TRIGGER).await, "");
    let again = migrate(&mut client, None).await.expect("second run");
    assert!(again.system_applied.is_empty() && again.system_upgraded.is_empty());
    assert!(
        pgbase_notices(&notices).is_empty(),
        "a second run says nothing"
    );

    // A database whose 0001 an earlier pgbase applied (no checksum recorded): its upgrade tries
    // the event trigger again, is refused again, and the migration goes on.
    let mut admin_config = db.config.clone();
    admin_config.dbname(&name);
    let (admin_in_db, connection) = admin_config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect as the admin");
    tokio::spawn(connection);
    admin_in_db
        .batch_execute("update pgbase.system_migrations set checksum = null where version = 1")
        .await
        .expect("forget 0001's checksum");
    let report = migrate(&mut client, None)
        .await
        .unwrap_or_else(|e| panic!("upgrade as a CREATEROLE owner: {e}"));
    assert_eq!(report.system_upgraded, ["0001_pgbase.sql"]);
    assert_eq!(pgbase_notices(&notices), [NO_TRIGGER_NOTICE]);
    assert_eq!(text(&client, EVENT_TRIGGER).await, "");
    let again = migrate(&mut client, None)
        .await
        .expect("run after the upgrade");
    assert!(again.system_applied.is_empty() && again.system_upgraded.is_empty());
    assert!(pgbase_notices(&notices).is_empty());

    // The same upgrade run by a superuser makes the trigger.
    admin_in_db
        .batch_execute("update pgbase.system_migrations set checksum = null where version = 1")
        .await
        .expect("forget 0001's checksum");
    let (mut superuser, _) = connect_keeping_notices(&admin_config).await;
    let report = migrate(&mut superuser, None)
        .await
        .expect("upgrade as a superuser");
    assert_eq!(report.system_upgraded, ["0001_pgbase.sql"]);
    assert_eq!(
        text(&client, EVENT_TRIGGER).await,
        "pgbase_ddl_end ddl_command_end pgbase.on_ddl() O"
    );

    drop((client, superuser, admin_in_db));
    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .expect("drop database");
    admin
        .batch_execute(&format!("drop owned by {owner}; drop role {owner}"))
        .await
        .expect("drop owner");
}

/// A superuser's database (the harness's template is built as one): `service_role` has
/// BYPASSRLS and the DDL event trigger is there, enabled.
#[tokio::test]
async fn a_superuser_gives_bypassrls_and_makes_the_event_trigger() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    let facts: (bool, bool) = client
        .query_one(
            "select rolsuper, (select rolbypassrls from pg_roles where rolname = 'service_role')
             from pg_roles where rolname = current_user",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("facts");
    assert_eq!(
        facts,
        (true, true),
        "a superuser; service_role bypasses RLS"
    );
    assert_eq!(
        text(&client, EVENT_TRIGGER).await,
        "pgbase_ddl_end ddl_command_end pgbase.on_ddl() O"
    );
}
