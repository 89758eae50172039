-- multiple_permissive_policies: more than one permissive policy applies to one role and one
-- action on a table. Postgres ORs them and evaluates every one for every row; one policy with
-- the conditions combined does the same work once.
-- Policies `to public` apply to every role; `for all` applies to every action.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
with applicable as (
  select c.oid as relid, n.nspname, c.relname, r.rolname::text as role, act.action,
         array_agg(p.polname::text order by p.polname) as policies
  from pg_policy p
  join pg_class c on c.oid = p.polrelid
  join pg_namespace n on n.oid = c.relnamespace
  cross join (values ('SELECT', 'r'), ('INSERT', 'a'), ('UPDATE', 'w'), ('DELETE', 'd')) as act(action, cmd)
  join pg_roles r on r.rolname in ('anon', 'authenticated', 'authenticator')
                 and (p.polroles @> array[0::oid] or p.polroles @> array[r.oid])
  where p.polpermissive
    and p.polcmd in ('*', act.cmd)
    and n.nspname <> all($2) and n.nspname !~ '^pg_'
  group by c.oid, n.nspname, c.relname, r.rolname, act.action
  having count(*) > 1
)
select
  format('Table %I.%I has %s permissive policies for role %I and %s: %s.',
         nspname, relname, cardinality(policies), role, action, array_to_string(policies, ', ')) as detail,
  'Merge them into one policy whose condition ORs theirs (or make the extra ones `as restrictive` if they were meant to narrow access).' as remediation,
  jsonb_build_object('schema', nspname, 'name', relname, 'type', 'table', 'role', role,
                     'action', action, 'policies', to_jsonb(policies)) as metadata,
  format('multiple_permissive_policies_%s_%s_%s_%s', nspname, relname, role, action) as cache_key
from applicable
