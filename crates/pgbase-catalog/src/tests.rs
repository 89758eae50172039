//! Unit tests on hand-built models (no database): relationship derivation and
//! privilege checks.

use crate::relationships::{ComputedRelationship, ViewKeyDependency};
use crate::*;
use serde_json::json;

fn table(schema: &str, name: &str, kind: &str, pk: &[&str], cols: &[&str]) -> Table {
    let columns: Vec<_> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"name": c, "ordinal": i + 1, "data_type": "integer", "nominal_type": "integer",
                   "type_oid": 23, "base_type_oid": 23, "element_type_oid": null, "nullable": true,
                   "default": null, "generation_expression": null, "comment": null, "max_length": null})
        })
        .collect();
    serde_json::from_value(json!({
        "oid": 1, "schema": schema, "name": name, "kind": kind, "owner": "postgres", "comment": null,
        "insertable": true, "updatable": true, "deletable": true, "rls_enabled": false, "rls_forced": false,
        "columns": columns, "primary_key": pk,
    }))
    .expect("table json")
}

fn fk(
    name: &str,
    from: (&str, &str),
    cols: &[&str],
    to: (&str, &str),
    refs: &[&str],
    unique: bool,
) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        schema: from.0.into(),
        table: from.1.into(),
        columns: cols.iter().map(|s| s.to_string()).collect(),
        referenced_schema: to.0.into(),
        referenced_table: to.1.into(),
        referenced_columns: refs.iter().map(|s| s.to_string()).collect(),
        unique,
        on_update: "a".into(),
        on_delete: "a".into(),
        comment: None,
    }
}

fn dep(
    table: (&str, &str),
    view: (&str, &str),
    cons: &str,
    kind: &str,
    cols: &[(&str, &[&str])],
) -> ViewKeyDependency {
    ViewKeyDependency {
        table_schema: table.0.into(),
        table_name: table.1.into(),
        view_schema: view.0.into(),
        view_name: view.1.into(),
        constraint_name: cons.into(),
        constraint_type: kind.into(),
        columns: cols
            .iter()
            .map(|(t, vs)| (t.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect(),
    }
}

fn computed(func: &str, from: &str, to: &str, to_one: bool) -> ComputedRelationship {
    ComputedRelationship {
        function_schema: "api".into(),
        function_name: func.into(),
        function_oid: 1,
        source_schema: "api".into(),
        source_table: from.into(),
        target_schema: "api".into(),
        target_table: to.into(),
        to_one,
    }
}

const A: &str = "api";

fn model() -> SchemaCache {
    model_opts(true)
}

fn model_opts(with_computed: bool) -> SchemaCache {
    let tables = vec![
        table(A, "countries", "r", &["id"], &["id", "name"]),
        table(
            A,
            "users",
            "r",
            &["id"],
            &["id", "country_id", "manager_id"],
        ),
        table(A, "profiles", "r", &["user_id"], &["user_id", "bio"]),
        table(A, "passports", "r", &["id"], &["id", "user_id"]),
        table(A, "projects", "r", &["id"], &["id", "owner_id"]),
        table(
            A,
            "memberships",
            "r",
            &["user_id", "project_id", "since"],
            &["user_id", "project_id", "since"],
        ),
        table(A, "logs", "r", &["id"], &["id", "user_id", "project_id"]),
        table(
            A,
            "follows",
            "r",
            &["follower_id", "followee_id"],
            &["follower_id", "followee_id"],
        ),
        table(A, "tokens", "r", &["id"], &["id", "secret_id"]),
        table(A, "project_view", "v", &[], &["pid", "owner", "owner2"]),
        table(A, "user_view", "v", &[], &["uid"]),
        table(A, "tasks", "r", &["id"], &["id", "project_id"]),
    ];
    let fks = vec![
        fk(
            "users_country_id_fkey",
            (A, "users"),
            &["country_id"],
            (A, "countries"),
            &["id"],
            false,
        ),
        fk(
            "users_manager_id_fkey",
            (A, "users"),
            &["manager_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "profiles_user_id_fkey",
            (A, "profiles"),
            &["user_id"],
            (A, "users"),
            &["id"],
            true,
        ),
        fk(
            "passports_user_id_fkey",
            (A, "passports"),
            &["user_id"],
            (A, "users"),
            &["id"],
            true,
        ),
        fk(
            "projects_owner_id_fkey",
            (A, "projects"),
            &["owner_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "memberships_user_id_fkey",
            (A, "memberships"),
            &["user_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "memberships_project_id_fkey",
            (A, "memberships"),
            &["project_id"],
            (A, "projects"),
            &["id"],
            false,
        ),
        fk(
            "logs_user_id_fkey",
            (A, "logs"),
            &["user_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "logs_project_id_fkey",
            (A, "logs"),
            &["project_id"],
            (A, "projects"),
            &["id"],
            false,
        ),
        fk(
            "follows_follower_id_fkey",
            (A, "follows"),
            &["follower_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "follows_followee_id_fkey",
            (A, "follows"),
            &["followee_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "tokens_secret_id_fkey",
            (A, "tokens"),
            &["secret_id"],
            ("private", "secrets"),
            &["id"],
            false,
        ),
        // a junction outside the exposed schemas
        fk(
            "pj_user_fkey",
            ("private", "pj"),
            &["user_id"],
            (A, "users"),
            &["id"],
            false,
        ),
        fk(
            "pj_project_fkey",
            ("private", "pj"),
            &["project_id"],
            (A, "projects"),
            &["id"],
            false,
        ),
        // M2O from a private table to an exposed one, propagated through an exposed view
        fk(
            "tasks_project_id_fkey",
            (A, "tasks"),
            &["project_id"],
            (A, "projects"),
            &["id"],
            false,
        ),
    ];
    let deps = vec![
        dep(
            (A, "projects"),
            (A, "project_view"),
            "projects_pkey",
            "p",
            &[("id", &["pid"])],
        ),
        // owner_id is selected twice by the view: two relationships
        dep(
            (A, "projects"),
            (A, "project_view"),
            "projects_owner_id_fkey",
            "f",
            &[("owner_id", &["owner", "owner2"])],
        ),
        dep(
            (A, "projects"),
            (A, "project_view"),
            "tasks_project_id_fkey",
            "f_ref",
            &[("id", &["pid"])],
        ),
        dep(
            (A, "users"),
            (A, "user_view"),
            "users_pkey",
            "p",
            &[("id", &["uid"])],
        ),
        dep(
            (A, "users"),
            (A, "user_view"),
            "projects_owner_id_fkey",
            "f_ref",
            &[("id", &["uid"])],
        ),
    ];
    let mut computed = vec![
        computed("owner_of", "projects", "users", true),
        computed("owned_projects", "users", "projects", false),
        // named like the target table: overrides projects -> api.users FK relationships
        computed("users", "projects", "users", true),
    ];
    if !with_computed {
        computed.clear();
    }
    let data = CatalogData {
        tables,
        foreign_keys: fks,
        view_key_dependencies: deps,
        computed_relationships: computed,
        ..CatalogData::default()
    };
    SchemaCache::from_data(&[A.to_string()], data)
}

fn find<'a>(cache: &'a SchemaCache, from: &str, to: &str) -> Vec<&'a Relationship> {
    cache
        .relationships_from(A, from)
        .iter()
        .filter(|r| r.target.name == to)
        .collect()
}

fn fk_of(r: &Relationship) -> (&str, Vec<(&str, &str)>, bool) {
    match &r.link {
        Link::ForeignKey {
            constraint,
            columns,
            parent,
        } => (
            constraint.as_str(),
            columns
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect(),
            *parent,
        ),
        other => panic!("not a FK relationship: {other:?}"),
    }
}

#[test]
fn many_to_one_and_inverse() {
    let c = model();
    let r = find(&c, "users", "countries");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].cardinality, Cardinality::ManyToOne);
    assert!(r[0].is_to_one());
    assert_eq!(
        fk_of(r[0]),
        ("users_country_id_fkey", vec![("country_id", "id")], false)
    );
    let r = find(&c, "countries", "users");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].cardinality, Cardinality::OneToMany);
    assert!(!r[0].is_to_one());
    assert_eq!(
        fk_of(r[0]),
        ("users_country_id_fkey", vec![("id", "country_id")], false)
    );
}

#[test]
fn self_reference() {
    let c = model();
    let fks: Vec<_> = find(&c, "users", "users")
        .into_iter()
        .filter(|r| r.constraints() == ["users_manager_id_fkey"])
        .collect();
    let cards: Vec<_> = fks.iter().map(|r| r.cardinality).collect();
    assert_eq!(cards, [Cardinality::OneToMany, Cardinality::ManyToOne]);
    assert!(fks.iter().all(|r| r.is_self));
    assert_eq!(fk_of(fks[1]).1, [("manager_id", "id")]);
    assert_eq!(fk_of(fks[0]).1, [("id", "manager_id")]);
}

#[test]
fn one_to_one_via_pk_and_unique() {
    let c = model();
    for (child, cons) in [
        ("profiles", "profiles_user_id_fkey"),
        ("passports", "passports_user_id_fkey"),
    ] {
        let down = find(&c, "users", child);
        assert_eq!(down.len(), 1, "{child}");
        assert_eq!(down[0].cardinality, Cardinality::OneToOne);
        assert_eq!(fk_of(down[0]), (cons, vec![("id", "user_id")], true));
        let up = find(&c, child, "users");
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].cardinality, Cardinality::OneToOne);
        assert_eq!(fk_of(up[0]), (cons, vec![("user_id", "id")], false));
        assert!(up[0].is_to_one() && down[0].is_to_one());
    }
}

#[test]
fn many_to_many_through_junction() {
    let c = model_opts(false);
    let m2m: Vec<_> = find(&c, "users", "projects")
        .into_iter()
        .filter(|r| r.cardinality == Cardinality::ManyToMany)
        .collect();
    // memberships qualifies (extra PK column allowed); logs does not (FKs not in PK);
    // private.pj is outside the exposed schemas.
    assert_eq!(m2m.len(), 1, "{m2m:#?}");
    let j = m2m[0].junction().expect("junction");
    assert_eq!(j.table, QualifiedName::new(A, "memberships"));
    assert_eq!(j.source_constraint, "memberships_user_id_fkey");
    assert_eq!(j.target_constraint, "memberships_project_id_fkey");
    assert_eq!(
        j.source_columns,
        [("id".to_string(), "user_id".to_string())]
    );
    assert_eq!(
        j.target_columns,
        [("id".to_string(), "project_id".to_string())]
    );
    let back: Vec<_> = find(&c, "projects", "users")
        .into_iter()
        .filter(|r| r.cardinality == Cardinality::ManyToMany)
        .collect();
    assert_eq!(back.len(), 1);
    assert_eq!(
        back[0].constraints(),
        ["memberships_project_id_fkey", "memberships_user_id_fkey"]
    );
    // the junction itself is embeddable both ways (o2m from users)
    assert_eq!(find(&c, "users", "memberships").len(), 1);
}

#[test]
fn self_many_to_many() {
    let c = model();
    let m2m: Vec<_> = find(&c, "users", "users")
        .into_iter()
        .filter(|r| r.cardinality == Cardinality::ManyToMany)
        .collect();
    assert_eq!(m2m.len(), 2);
    assert!(m2m.iter().all(|r| r.is_self));
    let pairs: Vec<_> = m2m
        .iter()
        .map(|r| {
            let j = r.junction().expect("junction");
            (j.source_constraint.as_str(), j.target_constraint.as_str())
        })
        .collect();
    assert!(pairs.contains(&("follows_follower_id_fkey", "follows_followee_id_fkey")));
    assert!(pairs.contains(&("follows_followee_id_fkey", "follows_follower_id_fkey")));
}

#[test]
fn fk_outside_exposed_schemas_is_kept_on_table_but_not_a_relationship() {
    let c = model();
    let tokens = c.table(A, "tokens").expect("tokens");
    assert_eq!(tokens.foreign_keys.len(), 1);
    assert_eq!(tokens.foreign_keys[0].referenced_schema, "private");
    assert!(c.relationships_from(A, "tokens").is_empty());
    assert!(c.relationships_from("private", "secrets").is_empty());
    assert!(c.relationships_from("private", "pj").is_empty());
}

#[test]
fn views_inherit_relationships() {
    let c = model();
    let pv = c.table(A, "project_view").expect("view");
    assert_eq!(pv.primary_key, ["pid"]);
    // view -> table M2O, once per view column selecting owner_id
    let to_users = find(&c, "project_view", "users");
    assert_eq!(to_users.len(), 2, "{to_users:#?}");
    assert!(
        to_users
            .iter()
            .all(|r| r.cardinality == Cardinality::ManyToOne && r.source_is_view)
    );
    let cols: Vec<_> = to_users.iter().map(|r| fk_of(r).1[0]).collect();
    assert!(cols.contains(&("owner", "id")) && cols.contains(&("owner2", "id")));
    // inverse
    assert_eq!(find(&c, "users", "project_view").len(), 2);
    // table -> view through the referenced side (tasks -> project_view)
    let t = find(&c, "tasks", "project_view");
    assert_eq!(t.len(), 1);
    assert_eq!(fk_of(t[0]).1, [("project_id", "pid")]);
    assert!(t[0].target_is_view && !t[0].source_is_view);
    // view -> view
    let vv = find(&c, "project_view", "user_view");
    assert_eq!(vv.len(), 2);
    assert!(vv.iter().all(|r| r.source_is_view && r.target_is_view));
    assert_eq!(find(&c, "user_view", "project_view").len(), 2);
}

#[test]
fn computed_relationships_and_override() {
    let c = model();
    let from_projects = c.relationships_from(A, "projects");
    let computed: Vec<_> = from_projects.iter().filter(|r| r.is_computed()).collect();
    assert_eq!(computed.len(), 2);
    assert!(
        computed
            .iter()
            .all(|r| r.is_to_one() && r.target.name == "users")
    );
    // the function api.users(projects) overrides every detected projects -> api.users
    // relationship (the FK M2O and the M2M through memberships)
    assert!(
        from_projects
            .iter()
            .filter(|r| r.target.name == "users")
            .all(|r| r.is_computed()),
        "{from_projects:#?}"
    );
    // computed come last
    assert!(from_projects.last().is_some_and(|r| r.is_computed()));
    let owned = find(&c, "users", "projects")
        .into_iter()
        .find(|r| r.is_computed())
        .expect("owned_projects");
    assert!(!owned.is_to_one());
    assert_eq!(owned.cardinality, Cardinality::OneToMany);
    assert_eq!(
        owned.link,
        Link::Computed {
            function: QualifiedName::new(A, "owned_projects"),
            to_one: false
        }
    );
}

#[test]
fn relationships_are_sorted_deterministically() {
    let a = model();
    let b = model();
    for t in a.tables() {
        assert_eq!(
            a.relationships_from(&t.schema, &t.name),
            b.relationships_from(&t.schema, &t.name)
        );
    }
}

#[test]
fn privileges_with_inheritance_and_public() {
    let data: CatalogData = serde_json::from_value(json!({
        "schemas": [{"name": "api", "comment": null, "owner": "postgres",
                     "grants": [{"grantee": "anon", "privilege": "USAGE", "grantable": false}]}],
        "tables": [{
            "oid": 1, "schema": "api", "name": "t", "kind": "r", "owner": "postgres", "comment": null,
            "insertable": true, "updatable": true, "deletable": true, "rls_enabled": true, "rls_forced": false,
            "columns": [
                {"name": "a", "ordinal": 1, "data_type": "int", "nominal_type": "int", "type_oid": 23,
                 "base_type_oid": 23, "element_type_oid": null, "nullable": true, "default": null,
                 "generation_expression": null, "comment": null, "max_length": null,
                 "grants": [{"grantee": "anon", "privilege": "UPDATE", "grantable": false}]},
                {"name": "b", "ordinal": 2, "data_type": "int", "nominal_type": "int", "type_oid": 23,
                 "base_type_oid": 23, "element_type_oid": null, "nullable": true, "default": null,
                 "generation_expression": null, "comment": null, "max_length": null, "grants": null}
            ],
            "grants": [
                {"grantee": "members", "privilege": "SELECT", "grantable": false},
                {"grantee": null, "privilege": "REFERENCES", "grantable": false}
            ]
        }],
        "functions": [{
            "oid": 42, "schema": "api", "name": "f", "comment": null, "owner": "postgres", "args": [],
            "return_type": {"oid": 2278, "name": "void", "base_oid": 2278, "kind": "p", "relation": null},
            "returns_set": false, "has_out_args": false, "rows": null, "volatility": "v", "strict": false,
            "security_definer": false, "language": "sql", "variadic": false, "config": null,
            "grants": [{"grantee": "authenticated", "privilege": "EXECUTE", "grantable": false}]
        }],
        "roles": [
            {"name": "postgres", "superuser": true, "inherit": true, "bypass_rls": true, "can_login": true, "member_of": null},
            {"name": "anon", "superuser": false, "inherit": true, "bypass_rls": false, "can_login": false, "member_of": null},
            {"name": "authenticated", "superuser": false, "inherit": true, "bypass_rls": false, "can_login": false, "member_of": null},
            {"name": "members", "superuser": false, "inherit": true, "bypass_rls": false, "can_login": false,
             "member_of": [{"role": "authenticated", "inherit": true}]},
            {"name": "alice", "superuser": false, "inherit": true, "bypass_rls": false, "can_login": true,
             "member_of": [{"role": "members", "inherit": true}]},
            {"name": "bob", "superuser": false, "inherit": false, "bypass_rls": false, "can_login": true,
             "member_of": [{"role": "members", "inherit": false}]}
        ]
    }))
    .expect("json");
    let c = SchemaCache::from_data(&["api".into()], data);
    let t = Object::table("api", "t");
    assert!(c.can("alice", Privilege::Select, t));
    assert!(c.can("members", Privilege::Select, t));
    assert!(!c.can("bob", Privilege::Select, t), "NOINHERIT");
    assert!(!c.can("anon", Privilege::Select, t));
    assert!(c.can("anon", Privilege::References, t), "PUBLIC");
    assert!(c.can("postgres", Privilege::Delete, t), "superuser");
    assert!(!c.can("nobody", Privilege::References, t), "unknown role");
    assert!(c.can("anon", Privilege::Update, Object::column("api", "t", "a")));
    assert!(!c.can("anon", Privilege::Update, Object::column("api", "t", "b")));
    assert!(c.can("alice", Privilege::Select, Object::column("api", "t", "b")));
    assert!(c.can_any_column("anon", Privilege::Update, "api", "t"));
    assert!(!c.can_any_column("anon", Privilege::Insert, "api", "t"));
    assert_eq!(
        c.permitted_columns("anon", Privilege::Update, "api", "t"),
        ["a"]
    );
    assert!(
        c.can("alice", Privilege::Execute, Object::Function(42)),
        "via members -> authenticated"
    );
    assert!(!c.can("anon", Privilege::Execute, Object::Function(42)));
    assert!(c.can("anon", Privilege::Usage, Object::Schema("api")));
    assert!(!c.can("alice", Privilege::Usage, Object::Schema("api")));
    assert_eq!(
        c.effective_roles("alice"),
        ["alice", "members", "authenticated"]
    );
    assert_eq!(
        c.function_by_oid(42).map(|f| f.return_shape()),
        Some(ReturnShape::Void)
    );
}

#[test]
fn only_postgrest_reload_payloads_reload_the_schema() {
    assert!(crate::is_schema_reload("reload schema"));
    assert!(
        crate::is_schema_reload(""),
        "empty: PostgREST reloads everything"
    );
    for ignored in [
        "reload config",
        "something else",
        "Reload Schema",
        "reload schema ",
        "reload",
    ] {
        assert!(!crate::is_schema_reload(ignored), "{ignored:?}");
    }
}
