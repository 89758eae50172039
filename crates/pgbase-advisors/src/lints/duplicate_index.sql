-- duplicate_index: two or more indexes of one table are identical (same access method, columns
-- or expressions, operator classes, collations, options, predicate), so every write maintains
-- the same index twice. One finding per set of duplicates.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
with idx as (
  select i.indrelid, i.indexrelid, ic.relname::text as index_name,
         exists (select from pg_constraint k where k.conindid = i.indexrelid and k.contype in ('p', 'u', 'x')) as backs_constraint,
         concat_ws(' | ', am.amname, i.indkey::text, i.indclass::text, i.indcollation::text,
                   i.indoption::text, i.indisunique::text, i.indnkeyatts::text,
                   coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                   coalesce(pg_get_expr(i.indpred, i.indrelid), '')) as shape
  from pg_index i
  join pg_class ic on ic.oid = i.indexrelid
  join pg_am am on am.oid = ic.relam
),
dups as (
  select indrelid, shape,
         array_agg(index_name order by backs_constraint desc, index_name) as names
  from idx
  group by indrelid, shape
  having count(*) > 1
)
select
  format('Table %I.%I has identical indexes %s.',
         n.nspname, c.relname, array_to_string(d.names, ', ')) as detail,
  format('Keep one and drop the others: %s.',
         array_to_string(array(select format('`drop index %I.%I;`', n.nspname, x) from unnest(d.names[2:]) as x), ' ')) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table', 'indexes', to_jsonb(d.names)) as metadata,
  format('duplicate_index_%s_%s_%s', n.nspname, c.relname, array_to_string(d.names, '_')) as cache_key
from dups d
join pg_class c on c.oid = d.indrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname <> all($2) and n.nspname !~ '^pg_'
  and not exists (select from pg_depend dep
                  where dep.classid = 'pg_class'::regclass and dep.objid = c.oid and dep.deptype = 'e')
