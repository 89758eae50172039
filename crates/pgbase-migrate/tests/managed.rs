//! Installing and upgrading the system schemas as a managed database's owner: a login with
//! CREATEROLE and no superuser, owning its database (as RDS, Cloud SQL, Azure and Neon hand out).

use pgbase_migrate::migrate;

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
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect as the owner");
    tokio::spawn(connection);

    let report = migrate(&mut client, None).await;
    let report = report.unwrap_or_else(|e| panic!("migrate as a CREATEROLE owner: {e}"));
    assert_eq!(
        report.system_applied.len(),
        pgbase_migrate::SYSTEM_SCHEMAS.len()
    );
    let again = migrate(&mut client, None).await.expect("second run");
    assert!(again.system_applied.is_empty() && again.system_upgraded.is_empty());

    drop(client);
    admin
        .batch_execute(&format!("drop database {name} with (force)"))
        .await
        .expect("drop database");
    admin
        .batch_execute(&format!("drop owned by {owner}; drop role {owner}"))
        .await
        .expect("drop owner");
}
