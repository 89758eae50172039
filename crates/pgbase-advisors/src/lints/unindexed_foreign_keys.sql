-- unindexed_foreign_keys: no index of the referencing table starts with the foreign key's
-- columns, so joins along the key and every delete/update of a referenced row scan the table.
-- An index counts when its leading columns are the key's columns in any order (not partial).
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
select
  format('Foreign key %I on %I.%I (%s) has no covering index.',
         con.conname, n.nspname, c.relname, array_to_string(cols.names, ', ')) as detail,
  format('Run `create index on %I.%I (%s);`.',
         n.nspname, c.relname,
         array_to_string(array(select quote_ident(x) from unnest(cols.names) as x), ', ')) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table',
                     'fkey_name', con.conname, 'fkey_columns', to_jsonb(cols.names)) as metadata,
  format('unindexed_foreign_keys_%s_%s_%s', n.nspname, c.relname, con.conname) as cache_key
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
cross join lateral (
  select array_agg(a.attname::text order by k.ord) as names
  from unnest(con.conkey) with ordinality as k(attnum, ord)
  join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
) cols
where con.contype = 'f'
  and c.relkind in ('r', 'p')
  and n.nspname <> all($2) and n.nspname !~ '^pg_'
  and not exists (
    select from pg_index i
    where i.indrelid = con.conrelid
      and i.indpred is null
      and i.indnkeyatts >= cardinality(con.conkey)
      and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] @> con.conkey
      and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] <@ con.conkey
  )
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
