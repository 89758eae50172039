-- Every type of the database with what the TypeScript mapping needs: kind, category, array
-- element, domain base, and the labels of enums in declaration order.
-- No parameters.
select t.oid,
       n.nspname::text as schema,
       t.typname::text as name,
       t.typtype::text as kind,
       t.typcategory::text as category,
       t.typelem as element,
       t.typbasetype as base,
       coalesce(c.relkind::text, '') as relkind,
       case when t.typtype = 'e'
            then array(select e.enumlabel::text from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder)
            else '{}'::text[] end as labels
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
left join pg_class c on c.oid = t.typrelid
where t.typtype <> 'c' or c.relkind = 'c' or n.nspname = any($1)
