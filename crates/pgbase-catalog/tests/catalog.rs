//! Integration tests against a real PostgreSQL (pgbase-testkit): the catalog query
//! on a schema with every relationship kind, and reloads on `NOTIFY pgrst`.

use pgbase_catalog::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIXTURE: &str = include_str!("fixtures/schema.sql");

fn api() -> Vec<String> {
    vec!["api".to_string()]
}

fn rels<'a>(c: &'a SchemaCache, from: &str, to: &str) -> Vec<&'a Relationship> {
    c.relationships_from("api", from)
        .iter()
        .filter(|r| r.target.name == to)
        .collect()
}

fn many_to_one<'a>(c: &'a SchemaCache, from: &str, to: &str) -> Vec<&'a Relationship> {
    rels(c, from, to)
        .into_iter()
        .filter(|r| r.cardinality == Cardinality::ManyToOne)
        .collect()
}

fn pairs(r: &Relationship) -> Vec<(&str, &str)> {
    r.column_pairs()
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

#[tokio::test]
async fn model_of_a_real_schema() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client.batch_execute(FIXTURE).await.expect("fixture");

    let c = load(&client, &api()).await.expect("load");

    // --- relations
    let names: Vec<&str> = c.tables_in("api").map(|t| t.name.as_str()).collect();
    for t in [
        "countries",
        "users",
        "profiles",
        "passports",
        "projects",
        "memberships",
        "logs",
        "follows",
        "tokens",
        "regions",
        "offices",
        "events",
        "project_view",
        "users_view",
        "project_view2",
        "country_stats",
        "audit_view",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    assert!(!names.contains(&"events_2024"), "partitions are not listed");
    assert!(c.table("private", "secrets").is_none(), "not exposed");
    assert_eq!(
        c.table("api", "events").map(|t| t.kind),
        Some(RelKind::PartitionedTable)
    );
    assert_eq!(
        c.schema("api").and_then(|s| s.comment.as_deref()),
        Some(r#"@graphql({"inflect_names": true})"#)
    );

    let countries = c.table("api", "countries").expect("countries");
    assert_eq!(countries.comment.as_deref(), Some("Countries of the world"));
    assert_eq!(countries.primary_key, ["id"]);
    let name = countries.column("name").expect("name");
    assert_eq!(name.comment.as_deref(), Some("English name"));
    assert_eq!(name.max_length, Some(80));
    assert_eq!(name.data_type, "character varying");
    assert_eq!(name.nominal_type, "character varying(80)");
    assert!(!name.nullable);
    assert_eq!(countries.unique_constraints.len(), 1);
    assert_eq!(countries.unique_constraints[0].columns, ["name"]);
    let id = countries.column("id").expect("id");
    assert_eq!(
        id.default.as_deref(),
        Some("nextval('api.countries_id_seq'::regclass)")
    );

    // --- columns: identity, domain, enum, array of enum, generated
    let users = c.table("api", "users").expect("users");
    let col = |n: &str| users.column(n).expect("column");
    assert_eq!(col("id").identity, Identity::Always);
    assert!(!col("id").is_writable());
    let email = col("email");
    assert_eq!(email.nominal_type, "api.email");
    assert_eq!(email.data_type, "text");
    assert_eq!(email.base_type_oid, 25);
    assert_ne!(email.type_oid, 25);
    assert!(
        c.type_by_oid(email.type_oid)
            .is_some_and(|t| t.is_domain() && t.base_oid == Some(25))
    );
    let mood = col("mood");
    assert_eq!(mood.enum_values, ["happy", "sad", "meh"]);
    assert_eq!(mood.default.as_deref(), Some("'meh'::api.mood"));
    let moods = col("moods");
    assert_eq!(moods.nominal_type, "api.mood[]");
    assert_eq!(moods.element_type_oid, Some(mood.type_oid));
    assert!(c.type_by_oid(moods.type_oid).is_some_and(|t| t.is_array()));
    assert!(
        c.enums()
            .any(|e| e.name == "mood" && e.enum_values == ["happy", "sad", "meh"])
    );
    assert_eq!(col("score").default.as_deref(), Some("1"), "domain default");
    assert_eq!(col("score").data_type, "integer");
    let gen_col = col("name_upper");
    assert_eq!(gen_col.generated, Generated::Stored);
    assert!(gen_col.default.is_none());
    assert!(
        gen_col
            .generation_expression
            .as_deref()
            .is_some_and(|e| e.contains("upper"))
    );
    let passports = c.table("api", "passports").expect("passports");
    let pid = passports.column("id").expect("id");
    assert_eq!(pid.identity, Identity::ByDefault);
    assert_eq!(
        pid.default.as_deref(),
        Some("nextval('api.passports_id_seq'::regclass)")
    );
    assert!(
        passports
            .unique_constraints
            .iter()
            .any(|u| u.columns == ["user_id"])
    );

    // --- views
    let pv = c.table("api", "project_view").expect("project_view");
    assert!(pv.is_view() && pv.insertable && pv.updatable && pv.deletable);
    assert_eq!(pv.primary_key, ["pid"], "inferred from projects' PK");
    let src = pv
        .column("pid")
        .and_then(|c| c.source.clone())
        .expect("source");
    assert_eq!(
        (src.schema.as_str(), src.table.as_str(), src.column.as_str()),
        ("api", "projects", "id")
    );
    let pv2 = c.table("api", "project_view2").expect("project_view2");
    let src = pv2
        .column("owner")
        .and_then(|c| c.source.clone())
        .expect("source through a chain");
    assert_eq!(
        (src.table.as_str(), src.column.as_str()),
        ("projects", "owner_id")
    );
    assert_eq!(pv2.primary_key, ["pid"]);
    let uv = c.table("api", "users_view").expect("users_view");
    assert!(
        uv.column("shout").is_some_and(|c| c.source.is_none()),
        "expression column"
    );
    let stats = c.table("api", "country_stats").expect("matview");
    assert_eq!(stats.kind, RelKind::MaterializedView);
    assert!(!stats.insertable && !stats.updatable && !stats.deletable);

    // --- foreign keys
    let tokens = c.table("api", "tokens").expect("tokens");
    assert_eq!(tokens.foreign_keys.len(), 1);
    assert_eq!(
        tokens.foreign_keys[0].referenced_name(),
        QualifiedName::new("private", "secrets")
    );
    let profiles_fk = &c.table("api", "profiles").expect("profiles").foreign_keys[0];
    assert!(profiles_fk.unique);
    assert_eq!(profiles_fk.on_delete, "c");

    // --- RLS, policies
    let projects = c.table("api", "projects").expect("projects");
    assert!(projects.rls_enabled && !projects.rls_forced);
    assert!(!users.rls_enabled);
    assert_eq!(projects.policies.len(), 2);
    let owner = projects
        .policies
        .iter()
        .find(|p| p.name == "projects_owner")
        .expect("policy");
    assert_eq!(owner.command, PolicyCommand::Select);
    assert!(owner.permissive);
    assert_eq!(owner.roles, [Grantee::Role("authenticated".into())]);
    assert_eq!(owner.using.as_deref(), Some("(owner_id = 1)"));
    assert!(owner.with_check.is_none());
    let ins = projects
        .policies
        .iter()
        .find(|p| p.name == "projects_insert")
        .expect("policy");
    assert_eq!(ins.command, PolicyCommand::Insert);
    assert!(!ins.permissive);
    assert_eq!(ins.roles.len(), 2);
    assert_eq!(ins.with_check.as_deref(), Some("true"));

    // --- privileges
    assert!(c.can("anon", Privilege::Usage, Object::Schema("api")));
    assert!(c.can("anon", Privilege::Select, Object::table("api", "countries")));
    assert!(!c.can("anon", Privilege::Insert, Object::table("api", "countries")));
    assert!(!c.can("anon", Privilege::Select, Object::table("api", "users")));
    assert!(c.can(
        "authenticated",
        Privilege::Delete,
        Object::table("api", "users")
    ));
    assert!(c.can(
        "anon",
        Privilege::Select,
        Object::column("api", "projects", "title")
    ));
    assert!(!c.can(
        "anon",
        Privilege::Select,
        Object::column("api", "projects", "owner_id")
    ));
    assert_eq!(
        c.permitted_columns("anon", Privilege::Select, "api", "projects"),
        ["id", "title"]
    );
    assert!(
        c.can("cat_user", Privilege::Select, Object::table("api", "users")),
        "inherited"
    );
    assert!(
        !c.can(
            "cat_noinherit",
            Privilege::Select,
            Object::table("api", "users")
        ),
        "NOINHERIT"
    );
    assert!(
        c.can(
            "postgres",
            Privilege::Truncate,
            Object::table("api", "users")
        ),
        "superuser"
    );

    // --- functions
    let add = c.function_overloads("api", "add");
    assert_eq!(add.len(), 2);
    let add_int = add
        .iter()
        .find(|f| f.args[0].type_name == "integer")
        .expect("add(int,int)");
    assert_eq!(add_int.comment.as_deref(), Some("adds"));
    assert_eq!(add_int.volatility, Volatility::Immutable);
    assert_eq!(add_int.return_shape(), ReturnShape::Scalar);
    assert_eq!(
        add_int
            .args
            .iter()
            .map(|a| (a.name.as_deref(), a.has_default))
            .collect::<Vec<_>>(),
        [(Some("a"), false), (Some("b"), true)]
    );
    let one = |n: &str| {
        c.function_overloads("api", n)
            .first()
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert_eq!(one("noop").return_shape(), ReturnShape::Void);
    assert_eq!(one("noop").volatility, Volatility::Volatile);
    let all = one("all_projects");
    assert!(all.returns_set && !all.is_single_row());
    assert_eq!(
        all.return_shape(),
        ReturnShape::Relation(QualifiedName::new("api", "projects"))
    );
    let first = one("first_project");
    assert!(!first.returns_set && first.is_single_row());
    assert_eq!(
        first.return_shape(),
        ReturnShape::Relation(QualifiedName::new("api", "projects"))
    );
    let stats_fn = one("project_stats");
    assert_eq!(stats_fn.return_shape(), ReturnShape::Composite);
    assert!(stats_fn.returns_set);
    assert_eq!(stats_fn.input_args().count(), 1);
    assert_eq!(
        stats_fn
            .output_args()
            .map(|a| a.name.as_deref())
            .collect::<Vec<_>>(),
        [Some("id"), Some("n")]
    );
    let out = one("out_args");
    assert_eq!(out.return_shape(), ReturnShape::Composite);
    assert_eq!(
        out.args.iter().map(|a| a.mode).collect::<Vec<_>>(),
        [ArgMode::In, ArgMode::Out, ArgMode::InOut]
    );
    let sum = one("sum_all");
    assert!(sum.variadic);
    assert_eq!(sum.args[0].mode, ArgMode::Variadic);
    assert_eq!(one("echo_json").args[0].name, None);
    assert!(
        c.function_overloads("api", "trig").is_empty(),
        "trigger functions are omitted"
    );
    let owner_of = one("owner_of");
    assert_eq!(owner_of.rows, Some(1.0));
    assert!(owner_of.is_single_row());
    let private_fn = one("private_fn");
    assert!(!c.can("anon", Privilege::Execute, Object::Function(private_fn.oid)));
    assert!(c.can(
        "authenticated",
        Privilege::Execute,
        Object::Function(private_fn.oid)
    ));
    assert!(
        c.can(
            "anon",
            Privilege::Execute,
            Object::Function(one("noop").oid)
        ),
        "PUBLIC by default"
    );

    // --- relationships
    let m2o = rels(&c, "users", "countries");
    assert_eq!(m2o.len(), 1);
    assert_eq!(m2o[0].cardinality, Cardinality::ManyToOne);
    assert_eq!(pairs(m2o[0]), [("country_id", "id")]);
    assert_eq!(m2o[0].constraints(), ["users_country_id_fkey"]);
    let o2m = rels(&c, "countries", "users");
    assert_eq!(o2m.len(), 1);
    assert_eq!(o2m[0].cardinality, Cardinality::OneToMany);

    let selfs = rels(&c, "users", "users");
    let manager: Vec<_> = selfs
        .iter()
        .filter(|r| r.constraints() == ["users_manager_id_fkey"])
        .collect();
    assert_eq!(manager.len(), 2);
    assert!(manager.iter().all(|r| r.is_self));
    let follows: Vec<_> = selfs
        .iter()
        .filter(|r| r.cardinality == Cardinality::ManyToMany)
        .collect();
    assert_eq!(
        follows.len(),
        2,
        "self m2m through follows, both directions"
    );
    assert!(
        follows
            .iter()
            .all(|r| r.junction().is_some_and(|j| j.table.name == "follows"))
    );

    for child in ["profiles", "passports"] {
        let down = rels(&c, "users", child);
        assert_eq!(down.len(), 1, "{child}");
        assert_eq!(down[0].cardinality, Cardinality::OneToOne);
        let up = rels(&c, child, "users");
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].cardinality, Cardinality::OneToOne);
    }

    let up: Vec<_> = rels(&c, "users", "projects");
    let m2m: Vec<_> = up
        .iter()
        .filter(|r| r.cardinality == Cardinality::ManyToMany)
        .collect();
    assert_eq!(
        m2m.len(),
        1,
        "memberships only; logs' FKs are not in its PK: {m2m:#?}"
    );
    let j = m2m[0].junction().expect("junction");
    assert_eq!(j.table, QualifiedName::new("api", "memberships"));
    assert_eq!(
        j.source_columns,
        [("id".to_string(), "user_id".to_string())]
    );
    assert_eq!(
        j.target_columns,
        [("id".to_string(), "project_id".to_string())]
    );
    assert!(up.iter().any(|r| r.cardinality == Cardinality::OneToMany
        && r.constraints() == ["projects_owner_id_fkey"]));
    let computed = up.iter().find(|r| r.is_computed()).expect("owned_projects");
    assert!(!computed.is_to_one());

    // api.users(projects) overrides every detected projects -> users relationship
    let down = rels(&c, "projects", "users");
    assert_eq!(down.len(), 2, "{down:#?}");
    assert!(down.iter().all(|r| r.is_computed() && r.is_to_one()));

    assert!(
        c.relationships_from("api", "tokens").is_empty(),
        "FK target not exposed"
    );
    let office = rels(&c, "offices", "regions");
    assert_eq!(office.len(), 1);
    assert_eq!(
        pairs(office[0]),
        [("country_id", "country_id"), ("region_code", "code")]
    );
    assert_eq!(rels(&c, "events", "users").len(), 1, "partitioned table");
    assert!(rels(&c, "regions", "countries")[0].cardinality == Cardinality::ManyToOne);

    let view_m2o: Vec<_> = rels(&c, "project_view", "users")
        .into_iter()
        .filter(|r| r.cardinality == Cardinality::ManyToOne)
        .collect();
    assert_eq!(view_m2o.len(), 1);
    assert_eq!(pairs(view_m2o[0]), [("owner", "id")]);
    assert!(view_m2o[0].source_is_view);
    let inverse: Vec<_> = rels(&c, "users", "project_view");
    assert_eq!(
        inverse
            .iter()
            .filter(|r| r.cardinality == Cardinality::OneToMany)
            .count(),
        1
    );
    // memberships.project_id -> projects.id propagates to project_view(pid): a M2M
    // users <-> project_view through memberships, as in PostgREST
    assert!(
        inverse
            .iter()
            .any(|r| r.junction().is_some_and(|j| j.table.name == "memberships"))
    );
    assert_eq!(
        many_to_one(&c, "project_view2", "users").len(),
        1,
        "chain of views"
    );
    let audit = many_to_one(&c, "audit_view", "users");
    assert_eq!(audit.len(), 1, "view over a non-exposed table");
    assert_eq!(pairs(audit[0]), [("user_id", "id")]);
    // users -> users_view (the PK dependency makes users_view's id a key; FKs to
    // users propagate to it)
    assert_eq!(many_to_one(&c, "projects", "users_view").len(), 1);
}

/// The model as JSON without what differs between two loads of the same catalog (the load
/// counter and the clock readings).
fn model_json(c: &SchemaCache) -> serde_json::Value {
    let mut v = serde_json::to_value(c).expect("serialise the model");
    let map = v.as_object_mut().expect("an object");
    for volatile in ["version", "loaded_at", "load_duration"] {
        assert!(map.remove(volatile).is_some(), "{volatile} is serialised");
    }
    v
}

/// Loading the same catalog again gives the same model (nothing depends on hash order or on
/// the statement cache), and a load after DDL sees the change. How long a load takes is
/// printed, not asserted: speed targets live in bench/.
#[tokio::test]
async fn repeated_loads_agree_and_see_changes() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client.batch_execute(FIXTURE).await.expect("fixture");
    let first = load(&client, &api()).await.expect("load");
    let expected = model_json(&first);
    assert!(first.table_count() > 10 && first.relationship_count() > 10);
    let n = 10;
    let started = Instant::now();
    for i in 0..n {
        let again = load(&client, &api()).await.expect("load");
        assert!(
            model_json(&again) == expected,
            "load {i} differs from the first one"
        );
    }
    eprintln!(
        "catalog load: {:?} per load ({} relations, {} functions, {} relationships, {} roles)",
        started.elapsed() / n,
        first.table_count(),
        first.function_count(),
        first.relationship_count(),
        first.roles().count()
    );

    client
        .batch_execute("alter table api.countries add column population bigint")
        .await
        .expect("ddl");
    let after = load(&client, &api()).await.expect("load");
    assert!(model_json(&after) != expected);
    assert!(
        after
            .table("api", "countries")
            .and_then(|t| t.column("population"))
            .is_some_and(|c| c.data_type == "bigint")
    );
    assert!(
        first
            .table("api", "countries")
            .expect("countries")
            .column("population")
            .is_none()
    );
}

/// How long [`reloaded_until`] waits at most: far above the milliseconds a reload takes, so
/// that only a reload that never comes fails the test, however loaded the machine.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// Waits until `cond` holds for the handle's current model, waking on each swap (no polling
/// of a clock); panics after [`RELOAD_WAIT`].
async fn reloaded_until(handle: &CatalogHandle, what: &str, cond: impl Fn(&SchemaCache) -> bool) {
    let mut swaps = handle.subscribe();
    let wait = async {
        loop {
            if cond(&handle.current()) {
                return;
            }
            swaps.changed().await.expect("the handle is alive");
        }
    };
    assert!(
        tokio::time::timeout(RELOAD_WAIT, wait).await.is_ok(),
        "{what}: not within {RELOAD_WAIT:?} (version {})",
        handle.version()
    )
}

fn listener(
    db: &pgbase_testkit::TestDb,
    handle: &Arc<CatalogHandle>,
    options: ListenOptions,
) -> tokio::task::JoinHandle<()> {
    let mut config = db.config.clone();
    config.application_name("pgbase-catalog-listener");
    tokio::spawn(listen_for_reloads(config, handle.clone(), api(), options))
}

#[tokio::test]
async fn reloads_on_notify_and_keeps_held_snapshots() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute("create schema api; create table api.a (id int primary key);")
        .await
        .expect("schema");

    let handle = Arc::new(CatalogHandle::new(
        load(&client, &api()).await.expect("load"),
    ));
    assert_eq!(handle.version(), 1);
    let held = handle.current();
    assert_eq!(held.version, 1);

    let listener = listener(&db, &handle, ListenOptions::default());
    // connected, LISTENing, and reloaded once on connect
    reloaded_until(&handle, "the reload on connect", |c| c.version >= 2).await;

    client
        .batch_execute("create table api.b (id int primary key, a_id int references api.a(id)); notify pgrst, 'reload schema';")
        .await
        .expect("ddl");
    reloaded_until(&handle, "api.b after the NOTIFY", |c| {
        c.table("api", "b").is_some()
    })
    .await;
    let now = handle.current();
    assert_eq!(now.relationships_from("api", "a").len(), 1);
    assert!(now.version > held.version);
    // the snapshot taken before still shows the old state
    assert!(held.table("api", "b").is_none());
    assert!(held.relationships_from("api", "a").is_empty());

    // Other payloads are ignored; an empty one reloads. (Distinct payloads: Postgres folds
    // identical notifications of one transaction into one.) The pause lets a listener that
    // wrongly reloads on them do so before the empty payload could be folded into it; on a
    // loaded machine it can only make this check miss a bug, never fail a correct listener.
    let before = handle.version();
    client
        .batch_execute("notify pgrst, 'reload config'; notify pgrst, 'something else';")
        .await
        .expect("notify");
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.batch_execute("notify pgrst").await.expect("notify");
    reloaded_until(&handle, "the empty payload's reload", |c| {
        c.version > before
    })
    .await;
    // A marker after them: notifications arrive in commit order, so once the marker's reload
    // is visible, every reload the notifications above caused has happened.
    client
        .batch_execute("create table api.after_ignored (id int)")
        .await
        .expect("ddl");
    reloaded_until(&handle, "the marker (DDL event trigger)", |c| {
        c.table("api", "after_ignored").is_some()
    })
    .await;
    assert_eq!(
        handle.version() - before,
        2,
        "one reload for the empty payload, one for the marker, none for the others"
    );

    // the listener reconnects after its connection is killed, then reloads again
    let before = handle.version();
    terminate_one(&client, "pgbase-catalog-listener").await;
    // reconnect reloads on its own (reload_on_connect)
    reloaded_until(&handle, "the reload on reconnect", |c| c.version > before).await;
    client
        .batch_execute("create table api.c (id int); notify pgrst, 'reload schema';")
        .await
        .expect("ddl");
    reloaded_until(&handle, "api.c after the reconnect", |c| {
        c.table("api", "c").is_some()
    })
    .await;

    listener.abort();
}

/// A burst of notifications folds into one reload. The listener here debounces for 2 s (the
/// default is 5 ms) so that the burst, pipelined on one connection, surely arrives within one
/// window even on a loaded machine; a listener that reloads per notification reloads 20 times.
#[tokio::test]
async fn a_burst_of_notifications_folds_into_one_reload() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute("create schema api; create table api.a (id int primary key);")
        .await
        .expect("schema");
    let handle = Arc::new(CatalogHandle::new(
        load(&client, &api()).await.expect("load"),
    ));
    let listener = listener(
        &db,
        &handle,
        ListenOptions {
            debounce: Duration::from_secs(2),
            ..ListenOptions::default()
        },
    );
    reloaded_until(&handle, "the reload on connect", |c| c.version >= 2).await;

    let before = handle.version();
    // 20 transactions (one would deliver identical notifications once), pipelined.
    let burst = (0..20).map(|_| client.batch_execute("notify pgrst, 'reload schema'"));
    for sent in futures_util::future::join_all(burst).await {
        sent.expect("notify");
    }
    // The marker (its DDL event trigger notifies) comes after the burst, so when it is
    // visible every reload the burst caused has happened.
    client
        .batch_execute("create table api.after_burst (id int)")
        .await
        .expect("ddl");
    reloaded_until(&handle, "the marker after the burst", |c| {
        c.table("api", "after_burst").is_some()
    })
    .await;
    let reloads = handle.version() - before;
    assert!(
        (1..=2).contains(&reloads),
        "20 notifications and a marker caused {reloads} reloads"
    );
    listener.abort();
}

/// A database without an enabled DDL event trigger (a managed one whose owner is no superuser):
/// DDL without `NOTIFY pgrst` is picked up by the periodic catalog fingerprint check; with the
/// check off it is not (so the check is what finds it).
#[tokio::test]
async fn without_the_event_trigger_the_fingerprint_check_sees_ddl() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "alter event trigger pgbase_ddl_end disable;
             create schema api; create table api.a (id int primary key);",
        )
        .await
        .expect("schema");
    let handle = Arc::new(CatalogHandle::new(
        load(&client, &api()).await.expect("load"),
    ));
    let off = Arc::new(CatalogHandle::new(
        load(&client, &api()).await.expect("load"),
    ));
    let checking = listener(
        &db,
        &handle,
        ListenOptions {
            fingerprint_every: Some(Duration::from_millis(200)),
            ..ListenOptions::default()
        },
    );
    let not_checking = listener(
        &db,
        &off,
        ListenOptions {
            fingerprint_every: None,
            ..ListenOptions::default()
        },
    );
    reloaded_until(&handle, "the reload on connect", |c| c.version >= 2).await;
    reloaded_until(&off, "the reload on connect", |c| c.version >= 2).await;
    let quiet = handle.version();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(handle.version(), quiet, "reloaded with no schema change");

    client
        .batch_execute("create table api.b (id int primary key)")
        .await
        .expect("ddl without notify");
    reloaded_until(&handle, "api.b by the fingerprint check", |c| {
        c.table("api", "b").is_some()
    })
    .await;
    client
        .batch_execute("comment on table api.b is 'hello'")
        .await
        .expect("comment");
    reloaded_until(&handle, "the comment by the fingerprint check", |c| {
        c.table("api", "b")
            .is_some_and(|t| t.comment.as_deref() == Some("hello"))
    })
    .await;
    assert!(
        off.current().table("api", "b").is_none(),
        "without the check (and without NOTIFY) nothing reloads"
    );
    checking.abort();
    not_checking.abort();
}

/// How many connections of the listener's second connection (`… (catalog half)`) are open.
async fn helpers(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "select count(*) from pg_stat_activity where application_name = 'pgbase-catalog-listener (catalog half)' and datname = current_database()",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// The listener loads the catalog in two halves on two connections (one snapshot); on the
/// fixture (every relationship kind) plus 80 tables joined by 160 foreign keys — so relations
/// fall in both halves — the result is the one-statement load's, relation for relation and
/// relationship for relationship. When its second connection dies, it loads on one, and
/// still loads the same model.
#[tokio::test]
async fn the_two_connection_load_is_the_one_statement_load() {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client.batch_execute(FIXTURE).await.expect("fixture");
    let mut wide = String::new();
    for i in 0..80 {
        wide.push_str(&format!(
            "create table api.w{i} (id int primary key, a_id int, b_id int, note varchar(20));"
        ));
    }
    for i in 0..80 {
        wide.push_str(&format!(
            "alter table api.w{i} add foreign key (a_id) references api.w{}(id), add foreign key (b_id) references api.w{}(id);",
            (i + 1) % 80,
            (i + 2) % 80
        ));
    }
    client.batch_execute(&wide).await.expect("80 tables");
    let one = load(&client, &api()).await.expect("load");
    assert!(one.table_count() > 80);
    assert!(one.relationship_count() >= 320, "160 FKs, both ways");

    let handle = Arc::new(CatalogHandle::new(SchemaCache::empty(&api())));
    let listener = listener(&db, &handle, ListenOptions::default());
    reloaded_until(&handle, "the reload on connect", |c| c.version >= 2).await;
    assert_eq!(helpers(&client).await, 1, "the second connection is open");
    assert_eq!(model_json(&handle.current()), model_json(&one));

    // its second connection killed, the listener loads on its own connection
    terminate_one(&client, "pgbase-catalog-listener (catalog half)").await;
    client
        .batch_execute("create table api.after_helper (id int references api.w0(id))")
        .await
        .expect("ddl");
    reloaded_until(&handle, "api.after_helper on one connection", |c| {
        c.table("api", "after_helper").is_some()
    })
    .await;
    let one = load(&client, &api()).await.expect("load");
    assert_eq!(model_json(&handle.current()), model_json(&one));
    listener.abort();
}

/// Terminates the one backend of this database with `application_name` (a listener's
/// connection), asserting there was exactly one.
async fn terminate_one(client: &tokio_postgres::Client, application_name: &str) {
    let killed = client
        .query_one(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where application_name = $1 and datname = current_database()",
            &[&application_name],
        )
        .await
        .expect("terminate");
    assert_eq!(
        killed.get::<_, i64>(0),
        1,
        "one {application_name} connection"
    );
}
