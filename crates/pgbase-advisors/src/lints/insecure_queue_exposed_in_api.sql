-- insecure_queue_exposed_in_api: a pgmq queue or archive table (`pgmq.q_<queue>`,
-- `pgmq.a_<queue>`) is reachable through the API without row-level security: either `pgmq` or
-- `pgmq_public` is exposed and anon/authenticated hold a privilege on the table while RLS is off
-- (the pgmq_public wrappers run as the caller), or a view in an exposed schema that they can
-- select from reads it (directly or through other views).
-- $1 text[]: the exposed schemas; $2 text[]: system schemas (unused here).
with recursive view_reads as (
  select v.oid as view_oid, dep.refobjid as rel_oid
  from pg_class v
  join pg_namespace vn on vn.oid = v.relnamespace
  join pg_rewrite rw on rw.ev_class = v.oid
  join pg_depend dep on dep.classid = 'pg_rewrite'::regclass and dep.objid = rw.oid
                    and dep.refclassid = 'pg_class'::regclass and dep.refobjid <> v.oid
  where v.relkind in ('v', 'm') and vn.nspname = any($1)
  union
  select vr.view_oid, dep.refobjid
  from view_reads vr
  join pg_class inner_v on inner_v.oid = vr.rel_oid and inner_v.relkind in ('v', 'm')
  join pg_rewrite rw on rw.ev_class = inner_v.oid
  join pg_depend dep on dep.classid = 'pg_rewrite'::regclass and dep.objid = rw.oid
                    and dep.refclassid = 'pg_class'::regclass and dep.refobjid <> inner_v.oid
),
api_roles as (
  select r.oid, r.rolname::text as rolname from pg_roles r where r.rolname in ('anon', 'authenticated')
),
through_views as (
  select vn.nspname as schema, v.relname as name,
         case v.relkind when 'm' then 'materialized view' else 'view' end as type,
         array_agg(distinct format('%I.%I', tn.nspname, t.relname)) as reads,
         (select array_agg(a.rolname order by a.rolname) from api_roles a
          where has_schema_privilege(a.oid, vn.oid, 'USAGE')
            and has_any_column_privilege(a.oid, v.oid, 'SELECT')) as roles
  from view_reads vr
  join pg_class v on v.oid = vr.view_oid
  join pg_namespace vn on vn.oid = v.relnamespace
  join pg_class t on t.oid = vr.rel_oid and t.relkind in ('r', 'p') and t.relname ~ '^[qa]_'
  join pg_namespace tn on tn.oid = t.relnamespace and tn.nspname = 'pgmq'
  group by vn.oid, vn.nspname, v.oid, v.relname, v.relkind
),
direct as (
  select n.nspname as schema, c.relname as name, 'table' as type,
         array[format('%I.%I', n.nspname, c.relname)] as reads,
         (select array_agg(a.rolname order by a.rolname) from api_roles a
          where has_schema_privilege(a.oid, n.oid, 'USAGE')
            and (has_any_column_privilege(a.oid, c.oid, 'SELECT, INSERT, UPDATE')
                 or has_table_privilege(a.oid, c.oid, 'DELETE, TRUNCATE'))) as roles
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'pgmq' and c.relkind in ('r', 'p') and c.relname ~ '^[qa]_'
    and not c.relispartition
    and not c.relrowsecurity
    and ('pgmq' = any($1) or 'pgmq_public' = any($1))
),
found as (
  select * from through_views where roles is not null
  union all
  select * from direct where roles is not null
)
select
  case when type = 'table'
    then format('Queue table %I.%I has row-level security disabled and %s can reach it through the API (%s), so they can read and change every message.',
                schema, name, array_to_string(roles, ', '),
                array_to_string(array(select x from unnest(array['pgmq', 'pgmq_public']) as x where x = any($1)), ' and ') || ' exposed')
    else format('%s %I.%I reads queue table %s and is selectable through the API by %s.',
                initcap(type), schema, name, array_to_string(array(select x from unnest(reads) as x order by 1), ', '),
                array_to_string(roles, ', '))
  end as detail,
  case when type = 'table'
    then format('Run `alter table %I.%I enable row level security;` and add policies for the roles that use the queue, or `revoke all on %I.%I from anon, authenticated;`.',
                schema, name, schema, name)
    else format('Run `revoke select on %I.%I from anon, authenticated;` or move it to a schema the API does not expose.', schema, name)
  end as remediation,
  jsonb_build_object('schema', schema, 'name', name, 'type', type, 'roles', to_jsonb(roles),
                     'exposes', to_jsonb(array(select x from unnest(reads) as x order by 1))) as metadata,
  format('insecure_queue_exposed_in_api_%s_%s', schema, name) as cache_key
from found
