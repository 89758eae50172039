-- Standalone composite types (`create type t as (...)`) of the given schemas, one row per
-- attribute in attribute order.
-- $1 text[]: the schemas.
select n.nspname::text as schema,
       t.typname::text as name,
       a.attname::text as attribute,
       a.atttypid as type_oid
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
join pg_class c on c.oid = t.typrelid and c.relkind = 'c'
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where t.typtype = 'c' and n.nspname = any($1)
order by n.nspname, t.typname, a.attnum
