//! The `describe` tool: the schema as an agent needs it, compact. Per table or view: columns
//! (type, nullability, default, key), foreign keys both ways, indexes, RLS state and policies
//! (USING / WITH CHECK), and the REST route and GraphQL collection it yields; then functions,
//! cron jobs with their last run, and queues with their metrics. `table` narrows it to one
//! relation and adds triggers, check constraints and grants. Read from the catalogs directly
//! (one query per kind of object), so it works on any database the server can reach.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use tokio_postgres::Client;

use crate::conn::Connector;
use crate::query::QueryError;

/// Schemas pgbase installs; left out unless asked for by name.
pub const SYSTEM_SCHEMAS: [&str; 11] = [
    "auth",
    "cron",
    "cron_runner",
    "net",
    "pgmq",
    "pgmq_public",
    "extensions",
    "pgbase",
    "graphql",
    "storage",
    "realtime",
];

#[derive(Debug, Default, Serialize)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// table, view, materialized view, partitioned table, foreign table
    pub kind: String,
    pub rls: bool,
    pub rls_forced: bool,
    /// The planner's estimate; `None` before the table was first analyzed or vacuumed.
    pub estimated_rows: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<String>,
    pub referenced_by: Vec<String>,
    pub indexes: Vec<String>,
    pub policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphql: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// The whole description.
#[derive(Debug, Default, Serialize)]
pub struct Description {
    /// The schemas described, `(API)` after those the API exposes.
    pub schemas: Vec<String>,
    pub relations: Vec<Relation>,
    pub functions: Vec<String>,
    pub cron_jobs: Vec<String>,
    pub queues: Vec<String>,
}

/// Describes `schemas` (all non-system schemas when empty), or only `table` (`name` or
/// `schema.name`) in depth.
pub async fn run(
    connector: &Connector,
    schemas: &[String],
    exposed: &[String],
    table: Option<&str>,
) -> Result<Description, QueryError> {
    let lease = connector.get().await?;
    let result = describe(&lease, schemas, exposed, table).await;
    if !lease.is_closed() {
        lease.release();
    }
    result.map_err(|e| QueryError::Io(e.to_string()))
}

fn kind_name(relkind: &str) -> &'static str {
    match relkind {
        "r" => "table",
        "p" => "partitioned table",
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        _ => "relation",
    }
}

const RELATIONS_SQL: &str = "
select c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
       case when c.reltuples >= 0 then c.reltuples::int8 end, obj_description(c.oid, 'pg_class')
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r','p','v','m','f') and not c.relispartition
   and (case when $1::text is not null then
              c.oid = coalesce(to_regclass($1), to_regclass(format('%I.%I', 'public', $1)))
         when cardinality($2::text[]) > 0 then n.nspname = any($2)
         else n.nspname not in ('pg_catalog','information_schema','pg_toast') and n.nspname not like 'pg_temp%'
              and n.nspname not like 'pg_toast_temp%' and n.nspname <> all($3) end)
 order by 2, 3";

async fn describe(
    client: &Client,
    schemas: &[String],
    exposed: &[String],
    table: Option<&str>,
) -> Result<Description, tokio_postgres::Error> {
    let system: Vec<String> = SYSTEM_SCHEMAS.iter().map(|s| s.to_string()).collect();
    let rows = client
        .query(RELATIONS_SQL, &[&table, &schemas, &system])
        .await?;
    let mut relations: BTreeMap<u32, Relation> = BTreeMap::new();
    let mut order: Vec<u32> = Vec::new();
    for row in &rows {
        let oid: u32 = row.get(0);
        let schema: String = row.get(1);
        let name: String = row.get(2);
        let relkind: String = row.get(3);
        let is_exposed = exposed.iter().any(|s| s == &schema);
        let rest = is_exposed.then(|| {
            if schema == "public" {
                format!("/rest/v1/{name}")
            } else {
                format!("/rest/v1/{name} (Accept-Profile: {schema})")
            }
        });
        let graphql = is_exposed.then(|| format!("{name}Collection"));
        order.push(oid);
        relations.insert(
            oid,
            Relation {
                kind: kind_name(&relkind).to_string(),
                rls: row.get(4),
                rls_forced: row.get(5),
                estimated_rows: row.get(6),
                comment: row.get(7),
                schema,
                name,
                rest,
                graphql,
                ..Relation::default()
            },
        );
    }
    let oids: Vec<u32> = order.clone();
    let detailed = table.is_some();

    for row in client
        .query(
            "select a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
                    case when a.attidentity <> '' then 'identity'
                         when a.attgenerated <> '' then 'generated as ' || pg_get_expr(d.adbin, d.adrelid)
                         else pg_get_expr(d.adbin, d.adrelid) end
               from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where a.attrelid = any($1) and a.attnum > 0 and not a.attisdropped
              order by a.attrelid, a.attnum",
            &[&oids],
        )
        .await?
    {
        if let Some(relation) = relations.get_mut(&row.get::<_, u32>(0)) {
            relation.columns.push(ColumnInfo {
                name: row.get(1),
                type_name: row.get(2),
                nullable: row.get(3),
                default: row.get(4),
            });
        }
    }

    for row in client
        .query(
            "select co.conrelid, co.confrelid, co.contype::text, co.conname::text,
                    array(select a.attname::text from unnest(co.conkey) with ordinality k(n, i)
                          join pg_attribute a on a.attrelid = co.conrelid and a.attnum = k.n order by k.i),
                    array(select a.attname::text from unnest(co.confkey) with ordinality k(n, i)
                          join pg_attribute a on a.attrelid = co.confrelid and a.attnum = k.n order by k.i),
                    co.confrelid::regclass::text, co.conrelid::regclass::text, pg_get_constraintdef(co.oid)
               from pg_constraint co
              where (co.conrelid = any($1) or co.confrelid = any($1)) and co.contype in ('p','f','c','u')
              order by co.conname",
            &[&oids],
        )
        .await?
    {
        let rel: u32 = row.get(0);
        let frel: u32 = row.get(1);
        let kind: String = row.get(2);
        let name: String = row.get(3);
        let cols: Vec<String> = row.get(4);
        let fcols: Vec<String> = row.get(5);
        let target: String = row.get(6);
        let source: String = row.get(7);
        let definition: String = row.get(8);
        match kind.as_str() {
            "p" => {
                if let Some(r) = relations.get_mut(&rel) {
                    r.primary_key = cols;
                }
            }
            "f" => {
                if let Some(r) = relations.get_mut(&rel) {
                    r.foreign_keys.push(format!(
                        "({}) -> {target}({})",
                        cols.join(", "),
                        fcols.join(", ")
                    ));
                }
                if let Some(r) = relations.get_mut(&frel) {
                    r.referenced_by
                        .push(format!("{source}({})", cols.join(", ")));
                }
            }
            _ if detailed => {
                if let Some(r) = relations.get_mut(&rel) {
                    r.checks.push(format!("{name}: {definition}"));
                }
            }
            _ => {}
        }
    }

    for row in client
        .query(
            "select i.indrelid, c.relname::text, i.indisunique, i.indisprimary,
                    regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')
               from pg_index i join pg_class c on c.oid = i.indexrelid
              where i.indrelid = any($1) order by c.relname",
            &[&oids],
        )
        .await?
    {
        let unique: bool = row.get(2);
        let primary: bool = row.get(3);
        if primary && !detailed {
            continue;
        }
        if let Some(r) = relations.get_mut(&row.get::<_, u32>(0)) {
            let name: String = row.get(1);
            let def: String = row.get(4);
            let def = def.strip_prefix("btree ").unwrap_or(&def).to_string();
            r.indexes.push(format!(
                "{name} {def}{}",
                if unique && !primary { " unique" } else { "" }
            ));
        }
    }

    for row in client
        .query(
            "select p.polrelid, p.polname::text, p.polpermissive,
                    case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                                  when 'd' then 'delete' else 'all' end,
                    coalesce((select string_agg(case when r = 0 then 'public' else r::regrole::text end, ', ')
                                from unnest(p.polroles) r), 'public'),
                    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
               from pg_policy p where p.polrelid = any($1) order by p.polname",
            &[&oids],
        )
        .await?
    {
        if let Some(r) = relations.get_mut(&row.get::<_, u32>(0)) {
            let name: String = row.get(1);
            let permissive: bool = row.get(2);
            let command: String = row.get(3);
            let roles: String = row.get(4);
            let using: Option<String> = row.get(5);
            let check: Option<String> = row.get(6);
            let mut text = format!(
                "{name:?} {}for {command} to {roles}",
                if permissive { "" } else { "restrictive " }
            );
            if let Some(using) = using {
                let _ = write!(text, " using ({using})");
            }
            if let Some(check) = check {
                let _ = write!(text, " with check ({check})");
            }
            r.policies.push(text);
        }
    }

    if detailed {
        for row in client
            .query(
                "select t.tgrelid, pg_get_triggerdef(t.oid) from pg_trigger t
                  where t.tgrelid = any($1) and not t.tgisinternal order by t.tgname",
                &[&oids],
            )
            .await?
        {
            if let Some(r) = relations.get_mut(&row.get::<_, u32>(0)) {
                r.triggers.push(row.get(1));
            }
        }
        for row in client
            .query(
                "select c.oid, g.grantee || ': ' || string_agg(lower(g.privilege_type), ', ' order by g.privilege_type)
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace
                   join information_schema.role_table_grants g
                     on g.table_schema = n.nspname and g.table_name = c.relname
                  where c.oid = any($1) and g.grantee in ('anon','authenticated','service_role','PUBLIC')
                  group by c.oid, g.grantee order by g.grantee",
                &[&oids],
            )
            .await?
        {
            if let Some(r) = relations.get_mut(&row.get::<_, u32>(0)) {
                r.grants.push(row.get(1));
            }
        }
    }

    let mut description = Description {
        relations: order
            .iter()
            .filter_map(|oid| relations.remove(oid))
            .collect(),
        ..Description::default()
    };
    if detailed {
        return Ok(description);
    }

    for row in client
        .query(
            "select n.nspname::text from pg_namespace n
              where case when cardinality($1::text[]) > 0 then n.nspname = any($1)
                         else n.nspname not in ('pg_catalog','information_schema','pg_toast')
                              and n.nspname not like 'pg_t%' and n.nspname <> all($2) end
              order by 1",
            &[&schemas, &system],
        )
        .await?
    {
        let name: String = row.get(0);
        let api = if exposed.contains(&name) {
            " (API)"
        } else {
            ""
        };
        description.schemas.push(format!("{name}{api}"));
    }

    for row in client
        .query(
            "select n.nspname || '.' || p.proname || '(' || pg_get_function_arguments(p.oid) || ') returns '
                    || pg_get_function_result(p.oid)
                    || case when p.prosecdef then ' security definer' else '' end
                    || case p.provolatile when 'i' then ' immutable' when 's' then ' stable' else '' end
                    || ' [' || l.lanname || ']'
               from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
              where p.prokind in ('f','p')
                and (case when cardinality($1::text[]) > 0 then n.nspname = any($1)
                          else n.nspname not in ('pg_catalog','information_schema') and n.nspname not like 'pg_t%'
                               and n.nspname <> all($2) end)
                and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
              order by 1",
            &[&schemas, &system],
        )
        .await?
    {
        description.functions.push(row.get(0));
    }

    let has_cron: bool = client
        .query_one("select to_regclass('cron.job') is not null and to_regclass('cron.job_run_details') is not null", &[])
        .await?
        .get(0);
    if has_cron {
        for row in client
            .query(
                "select format('#%s %s %s%s: %s', j.jobid, coalesce(j.jobname, '(unnamed)'), j.schedule,
                               case when j.active then '' else ' (inactive)' end, left(j.command, 200))
                        || coalesce(format(' | last run %s %s%s', r.status, to_char(r.start_time, 'YYYY-MM-DD HH24:MI:SS'),
                                           case when r.status = 'failed' then ': ' || left(r.return_message, 200) else '' end),
                                    ' | never run')
                   from cron.job j
                   left join lateral (select * from cron.job_run_details d where d.jobid = j.jobid
                                       order by d.runid desc limit 1) r on true
                  order by j.jobid",
                &[],
            )
            .await?
        {
            description.cron_jobs.push(row.get(0));
        }
    }
    let has_pgmq: bool = client
        .query_one(
            "select to_regprocedure('pgmq.metrics_all()') is not null",
            &[],
        )
        .await?
        .get(0);
    if has_pgmq {
        for row in client
            .query(
                "select format('%s: %s messages (%s visible), oldest %s s, %s sent in total',
                               queue_name, queue_length, queue_visible_length,
                               coalesce(oldest_msg_age_sec::text, '-'), total_messages)
                   from pgmq.metrics_all()",
                &[],
            )
            .await?
        {
            description.queues.push(row.get(0));
        }
    }
    Ok(description)
}

/// The description as compact text (what the tool returns by default).
pub fn render(d: &Description) -> String {
    let mut out = String::new();
    if !d.schemas.is_empty() {
        let _ = writeln!(out, "schemas: {}", d.schemas.join(", "));
    }
    if d.relations.is_empty() {
        out.push_str("no tables or views\n");
    }
    for r in &d.relations {
        let _ = write!(out, "{} {}.{}", r.kind, r.schema, r.name);
        if r.kind.contains("table") {
            let rows = match r.estimated_rows {
                Some(n) => format!(", ~{n} rows"),
                None => String::new(),
            };
            let _ = write!(
                out,
                " [rls {}{}{rows}]",
                if r.rls { "on" } else { "OFF" },
                if r.rls_forced { " forced" } else { "" },
            );
        }
        match (&r.rest, &r.graphql) {
            (Some(rest), Some(gql)) => {
                let _ = write!(out, " REST {rest} GraphQL {gql}");
            }
            _ => out.push_str(" (not exposed)"),
        }
        out.push('\n');
        if let Some(comment) = &r.comment {
            let _ = writeln!(out, "  -- {comment}");
        }
        let cols: Vec<String> = r
            .columns
            .iter()
            .map(|c| {
                let mut s = format!("{} {}", c.name, c.type_name);
                if r.primary_key.contains(&c.name) {
                    s.push_str(" pk");
                } else if !c.nullable {
                    s.push_str(" not null");
                }
                if let Some(default) = &c.default {
                    let _ = write!(s, " ={default}");
                }
                s
            })
            .collect();
        let _ = writeln!(out, "  {}", cols.join("; "));
        for (label, items) in [
            ("fk", &r.foreign_keys),
            ("referenced by", &r.referenced_by),
            ("index", &r.indexes),
            ("policy", &r.policies),
            ("check", &r.checks),
            ("trigger", &r.triggers),
            ("grant", &r.grants),
        ] {
            for item in items {
                let _ = writeln!(out, "  {label}: {item}");
            }
        }
    }
    for (title, items) in [
        ("functions", &d.functions),
        ("cron jobs", &d.cron_jobs),
        ("queues", &d.queues),
    ] {
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for item in items {
                let _ = writeln!(out, "  {item}");
            }
        }
    }
    out
}
