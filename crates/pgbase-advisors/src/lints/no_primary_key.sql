-- no_primary_key: a table without a primary key. Rows cannot be addressed reliably (REST
-- upserts, GraphQL node ids and logical replication need one) and scans find duplicates.
-- Partitions are skipped: their parent carries the key.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
select
  format('Table %I.%I has no primary key.', n.nspname, c.relname) as detail,
  format('Add one, e.g. `alter table %I.%I add column id bigint generated always as identity primary key;` or `alter table %I.%I add primary key (<unique not-null columns>);`.',
         n.nspname, c.relname, n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') as metadata,
  format('no_primary_key_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and not c.relispartition
  and n.nspname <> all($2) and n.nspname !~ '^pg_'
  and not exists (select from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
