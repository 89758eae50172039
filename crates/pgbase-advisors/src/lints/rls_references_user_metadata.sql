-- rls_references_user_metadata: a policy reads the user metadata (`auth.jwt() -> 'user_metadata'`
-- or auth.users.raw_user_meta_data). Users edit their own metadata, so a policy trusting it
-- lets them grant themselves access.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
select
  format('Policy %I on %I.%I reads user metadata (%s), which every user can change for themselves.',
         p.polname, n.nspname, c.relname,
         array_to_string(array(select distinct lower(m[1])
                                from regexp_matches(concat_ws(' ', pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)),
                                                    '(raw_user_meta_data|user_metadata)', 'gi') as m order by 1), ', ')) as detail,
  'Base the policy on data users cannot write: `auth.jwt() -> ''app_metadata''` (raw_app_meta_data), a table of roles/memberships, or `(select auth.uid())`.' as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table', 'policy', p.polname) as metadata,
  format('rls_references_user_metadata_%s_%s_%s', n.nspname, c.relname, p.polname) as cache_key
from pg_policy p
join pg_class c on c.oid = p.polrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname <> all($2) and n.nspname !~ '^pg_'
  and concat_ws(' ', pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      ~* '(raw_user_meta_data|user_metadata)'
