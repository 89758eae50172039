-- rls_enabled_no_policy: row-level security is on but the table has no policy, so every role
-- subject to RLS (anon, authenticated) sees no row and can write none. Intended for private
-- tables; a mistake when the table should be served by the API.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
select
  format('Table %I.%I has row-level security enabled but no policy: roles subject to RLS can neither read nor write any row.',
         n.nspname, c.relname) as detail,
  format('Add policies, e.g. `create policy "owner reads" on %I.%I for select to authenticated using (user_id = (select auth.uid()));`, or leave it if only service_role and the owner should reach it.',
         n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') as metadata,
  format('rls_enabled_no_policy_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and c.relrowsecurity
  and not c.relispartition
  and not exists (select from pg_policy pol where pol.polrelid = c.oid)
  and n.nspname <> all($2) and n.nspname !~ '^pg_'
