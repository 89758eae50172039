//! `pgbase doctor`: checks a database URL for what each capability needs (REST, auth, GraphQL,
//! queue, cron, net, TLS, replicas) and prints, per capability, ready / missing X / fix Y (or
//! one JSON document). The exit code is non-zero when something is missing; notes (e.g. no DDL
//! event trigger, no TLS) do not fail it.

use serde::Serialize;
use tokio_postgres::Client;

use crate::db;

/// How one capability stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ready,
    /// Works, with a caveat worth knowing.
    Note,
    Missing,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub capability: &'static str,
    pub status: Status,
    /// What was found (ready) or what is missing.
    pub detail: String,
    /// What fixes it (SQL to run as an administrator, or a command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ready: bool,
    pub checks: Vec<Check>,
}

fn check(capability: &'static str, ok: bool, detail: String, fix: String) -> Check {
    Check {
        capability,
        status: if ok { Status::Ready } else { Status::Missing },
        detail,
        fix: (!ok).then_some(fix),
    }
}

/// Runs every check; a connection failure is one `connection` line that is missing.
pub async fn diagnose(url: &str, replica_urls: &[String]) -> Report {
    let mut checks = match connect(url).await {
        Ok((client, tls)) => match checks(&client, tls).await {
            Ok(checks) => checks,
            Err(error) => vec![Check {
                capability: "connection",
                status: Status::Missing,
                detail: format!("a catalog query failed: {}", db_text(&error)),
                fix: Some("check that the login may read the catalog (pg_roles, pg_proc)".into()),
            }],
        },
        Err(error) => vec![Check {
            capability: "connection",
            status: Status::Missing,
            detail: format!("{error:#}"),
            fix: Some("check the URL (host, port, user, password, database, sslmode)".into()),
        }],
    };
    if !replica_urls.is_empty()
        && let Some(line) = checks.iter_mut().find(|c| c.capability == "replicas")
    {
        *line = replicas(replica_urls).await;
    }
    Report {
        ready: checks.iter().all(|c| c.status != Status::Missing),
        checks,
    }
}

async fn connect(url: &str) -> anyhow::Result<(Client, bool)> {
    let config = db::parse_url(url)?;
    let client = db::connect(&config).await?;
    let tls: bool = client
        .query_opt(
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await?
        .is_some_and(|r| r.get(0));
    Ok((client, tls))
}

fn db_text(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => error.to_string(),
    }
}

/// One query's booleans about the login and the system schemas.
const FACTS: &str = "select
  current_user::text,
  coalesce((select rolsuper from pg_roles where rolname = current_user), false),
  (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role'))::int = 3,
  coalesce((select pg_has_role(current_user, 'anon', 'MEMBER')
                and pg_has_role(current_user, 'authenticated', 'MEMBER')
                and pg_has_role(current_user, 'service_role', 'MEMBER')
            where exists (select from pg_roles where rolname = 'anon')
              and exists (select from pg_roles where rolname = 'authenticated')
              and exists (select from pg_roles where rolname = 'service_role')), false),
  coalesce((select rolbypassrls from pg_roles where rolname = 'service_role'), false),
  exists (select from pg_event_trigger where evtname = 'pgbase_ddl_end' and evtenabled <> 'D'),
  to_regclass('auth.users') is not null
    and coalesce(has_table_privilege(to_regclass('auth.users'), 'SELECT, INSERT, UPDATE'), false),
  to_regprocedure('pgmq.send(text, jsonb)') is not null
    and has_schema_privilege('pgmq', 'USAGE, CREATE'),
  to_regclass('cron.job') is not null
    and coalesce(has_table_privilege(to_regclass('cron.job'), 'SELECT, UPDATE'), false)
    and coalesce(has_table_privilege(to_regclass('cron.job_run_details'), 'INSERT, UPDATE'), false),
  to_regclass('net.http_request_queue') is not null
    and coalesce(has_table_privilege(to_regclass('net.http_request_queue'), 'SELECT, DELETE'), false)
    and coalesce(has_table_privilege(to_regclass('net._http_response'), 'INSERT'), false)";

async fn checks(client: &Client, tls: bool) -> Result<Vec<Check>, tokio_postgres::Error> {
    let outdated = pgbase_migrate::system_outdated(client)
        .await
        .unwrap_or_else(|_| vec!["(pgbase.system_migrations unreadable)"]);
    let row = client.query_one(FACTS, &[]).await?;
    let login: String = row.get(0);
    let superuser: bool = row.get(1);
    let roles: bool = row.get(2);
    let member: bool = row.get(3);
    let bypassrls: bool = row.get(4);
    let event_trigger: bool = row.get(5);
    let auth: bool = row.get(6);
    let queue: bool = row.get(7);
    let cron: bool = row.get(8);
    let net: bool = row.get(9);
    let login_ident = pgbase_sql::quote_ident(&login);
    let migrate = "pgbase migrate --db-url URL (as the database owner)".to_string();
    let system_ready = outdated.is_empty();
    let mut out = vec![check(
        "system schemas",
        system_ready,
        if system_ready {
            format!("{} files, current", pgbase_migrate::SYSTEM_SCHEMAS.len())
        } else {
            format!("missing or older: {}", outdated.join(", "))
        },
        migrate.clone(),
    )];
    let rest_ok = roles && member;
    out.push(check(
        "REST",
        rest_ok,
        if rest_ok {
            format!("roles anon, authenticated, service_role; {login} may switch to them")
        } else if !roles {
            "roles anon, authenticated, service_role".into()
        } else {
            format!("{login} may not SET ROLE to the API roles")
        },
        if roles {
            format!("GRANT anon, authenticated, service_role TO {login_ident};")
        } else {
            migrate.clone()
        },
    ));
    if rest_ok && !bypassrls {
        out.push(Check {
            capability: "REST",
            status: Status::Missing,
            detail: "service_role has no BYPASSRLS: the service key sees only what row-level security allows (often [])".into(),
            fix: Some("ALTER ROLE service_role BYPASSRLS;  -- as a superuser (on PG 16+ also a role with BYPASSRLS, CREATEROLE and ADMIN OPTION on service_role)".into()),
        });
    }
    out.push(if event_trigger {
        Check {
            capability: "REST",
            status: Status::Ready,
            detail: "DDL event trigger reloads every pgbase on schema changes".into(),
            fix: None,
        }
    } else {
        Check {
            capability: "REST",
            status: Status::Note,
            detail: format!(
                "no DDL event trigger ({}): pgbase migrate reloads the schema cache itself, and serve checks the catalog periodically",
                if superuser {
                    "disabled"
                } else {
                    "only a superuser or a provider's admin role may create it"
                }
            ),
            fix: Some("after DDL outside pgbase migrate: NOTIFY pgrst, 'reload schema';".into()),
        }
    });
    out.push(check(
        "auth",
        auth,
        "auth.users, readable and writable by this login".into(),
        if system_ready {
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA auth TO {login_ident};")
        } else {
            migrate.clone()
        },
    ));
    out.push(check(
        "GraphQL",
        rest_ok,
        "served from the REST schema cache with the same roles".into(),
        "see REST".into(),
    ));
    out.push(check(
        "queue",
        queue,
        "pgmq functions; this login may use and create in schema pgmq".into(),
        if system_ready {
            format!("GRANT USAGE, CREATE ON SCHEMA pgmq TO {login_ident};")
        } else {
            migrate.clone()
        },
    ));
    out.push(check(
        "cron",
        cron,
        "cron.job and cron.job_run_details usable by this login (the scheduler runs as it)".into(),
        if system_ready {
            format!(
                "GRANT USAGE ON SCHEMA cron TO {login_ident}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA cron TO {login_ident};"
            )
        } else {
            migrate.clone()
        },
    ));
    out.push(check(
        "net",
        net,
        "net.http_request_queue and net._http_response usable by this login (the worker runs as it)".into(),
        if system_ready {
            format!(
                "GRANT USAGE ON SCHEMA net TO {login_ident}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA net TO {login_ident};"
            )
        } else {
            migrate
        },
    ));
    out.push(Check {
        capability: "TLS",
        status: if tls { Status::Ready } else { Status::Note },
        detail: if tls {
            "this connection is encrypted".into()
        } else {
            "this connection is not encrypted (fine on a unix socket or localhost)".into()
        },
        fix: (!tls).then(|| "add ?sslmode=verify-full (or require) to a remote URL".into()),
    });
    out.push(Check {
        capability: "replicas",
        status: Status::Note,
        detail: "not checked (no read replicas configured)".into(),
        fix: None,
    });
    Ok(out)
}

/// The `replicas` line: each configured replica must answer and be in recovery.
async fn replicas(urls: &[String]) -> Check {
    let mut problems = Vec::new();
    for (index, url) in urls.iter().enumerate() {
        let n = index + 1;
        match connect(url).await {
            Err(error) => problems.push(format!("replica {n}: {error:#}")),
            Ok((client, _)) => match client.query_one("select pg_is_in_recovery()", &[]).await {
                Ok(row) if row.get::<_, bool>(0) => {}
                Ok(_) => problems.push(format!("replica {n} is not in recovery (not a standby)")),
                Err(error) => problems.push(format!("replica {n}: {}", db_text(&error))),
            },
        }
    }
    let ok = problems.is_empty();
    check(
        "replicas",
        ok,
        if ok {
            format!("{} read replica(s) answer and are in recovery", urls.len())
        } else {
            problems.join("; ")
        },
        "point db_replica_urls at streaming standbys (pg_basebackup -R) that this host can reach"
            .into(),
    )
}

/// Prints the report as lines (`ready`, `note`, `MISSING`) or as one JSON document.
pub fn print(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into())
        );
        return;
    }
    for check in &report.checks {
        let status = match check.status {
            Status::Ready => "ready  ",
            Status::Note => "note   ",
            Status::Missing => "MISSING",
        };
        println!("{status} {:<15} {}", check.capability, check.detail);
        if let Some(fix) = &check.fix {
            println!("        {:<15} fix: {fix}", "");
        }
    }
    println!(
        "{}",
        if report.ready {
            "everything pgbase needs is in place"
        } else {
            "something is missing (see MISSING above)"
        }
    );
}
