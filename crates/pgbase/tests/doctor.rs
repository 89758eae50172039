//! `pgbase doctor` against real databases: a superuser's migrated one (everything ready, exit 0),
//! and a managed-style one whose owner has CREATEROLE and no superuser: before `pgbase migrate`
//! the system schemas are missing (exit 1, fix names `pgbase migrate`), after it every
//! capability is ready with a note that schema changes need `NOTIFY pgrst` (no event trigger),
//! and a `service_role` without BYPASSRLS is reported with the statement an admin must run.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pgbase");

/// Both tests read the cluster-wide `service_role`; the one that changes it holds this.
static ROLES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn doctor(url: &str) -> (i32, Value) {
    let output = Command::new(BIN)
        .args(["doctor", "--json", "--db-url", url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pgbase doctor");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// The checks of one capability, as (status, detail, fix).
fn checks(report: &Value, capability: &str) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["capability"] == capability)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["detail"].as_str().unwrap_or_default().to_string(),
                c["fix"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["capability"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `url` with another login (user and password) and database.
fn url_as(url: &str, user: &str, password: &str, dbname: &str) -> String {
    let host = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the test URL");
    format!("postgres://{user}:{password}@{host}/{dbname}")
}

#[tokio::test]
async fn a_superusers_migrated_database_is_ready() {
    let _roles = ROLES.lock().await;
    let db = pgbase_testkit::test_db().await;
    let (code, report) = doctor(&db.url);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ready"], true);
    for capability in [
        "system schemas",
        "REST",
        "auth",
        "GraphQL",
        "queue",
        "cron",
        "net",
    ] {
        let found = checks(&report, capability);
        assert!(!found.is_empty(), "no {capability} check: {report:#}");
        assert!(
            found.iter().all(|(status, ..)| status == "ready"),
            "{capability}: {found:?}"
        );
    }
    assert_eq!(
        checks(&report, "TLS")[0].0,
        "note",
        "a local test cluster has no TLS"
    );
}

#[tokio::test]
async fn a_createrole_owner_is_told_what_is_missing_and_how_to_fix_it() {
    let _roles = ROLES.lock().await;
    let db = pgbase_testkit::test_db().await;
    let admin = db.connect().await;
    let owner = format!("{}_owner", db.name);
    let name = format!("{}_managed", db.name);
    admin
        .batch_execute(&format!(
            "create role {owner} login createrole password 'owner-pw'"
        ))
        .await
        .expect("owner");
    admin
        .batch_execute(&format!(
            "create database {name} owner {owner} template template0"
        ))
        .await
        .expect("database");
    let url = url_as(&db.url, &owner, "owner-pw", &name);

    let (code, report) = doctor(&url);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ready"], false);
    let system = checks(&report, "system schemas");
    assert_eq!(system[0].0, "missing", "{report:#}");
    assert!(system[0].2.contains("pgbase migrate"), "{system:?}");

    let migrated = Command::new(BIN)
        .args(["migrate", "--db-url", &url])
        .current_dir(tempfile::tempdir().expect("tempdir").path())
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pgbase migrate");
    assert!(
        migrated.status.success(),
        "migrate as a CREATEROLE owner: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let (code, report) = doctor(&url);
    assert_eq!(code, 0, "{report:#}");
    let missing: Vec<_> = statuses(&report)
        .into_iter()
        .filter(|(_, s)| s == "missing")
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
    let rest = checks(&report, "REST");
    assert!(
        rest.iter()
            .any(|(status, _, fix)| status == "note" && fix.contains("NOTIFY pgrst")),
        "no event trigger for a non-superuser, so the NOTIFY is the way: {rest:?}"
    );

    // service_role without BYPASSRLS (as a managed service's owner would have made it).
    admin
        .batch_execute("alter role service_role nobypassrls")
        .await
        .expect("nobypassrls");
    let (code, report) = doctor(&url);
    admin
        .batch_execute("alter role service_role bypassrls")
        .await
        .expect("bypassrls again");
    assert_eq!(code, 1, "{report:#}");
    assert!(
        checks(&report, "REST")
            .iter()
            .any(|(status, detail, fix)| status == "missing"
                && detail.contains("BYPASSRLS")
                && fix.contains("ALTER ROLE service_role BYPASSRLS")),
        "{report:#}"
    );

    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .expect("drop database");
    admin
        .batch_execute(&format!("drop owned by {owner}; drop role {owner}"))
        .await
        .expect("drop owner");
}
