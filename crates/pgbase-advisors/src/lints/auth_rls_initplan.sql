-- auth_rls_initplan: a policy calls auth.uid(), auth.jwt(), auth.role(), auth.email() or
-- current_setting() directly, so Postgres evaluates the call once per row. Wrapped in a
-- FROM-less sub-select, `(select auth.uid())`, it becomes an initPlan evaluated once per query.
--
-- How: the deparsed policy expression has its calls replaced by @name@ tokens (no parentheses), then its
-- parenthesised groups are peeled from the innermost outwards: a `( SELECT … )` group without a
-- FROM is dropped with the tokens inside it (those calls are wrapped), any other group is
-- flattened to brackets. Tokens left at the end are calls evaluated per row.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
with recursive pol as (
  select p.oid, n.nspname, c.relname, p.polname, e.part, e.expr
  from pg_policy p
  join pg_class c on c.oid = p.polrelid
  join pg_namespace n on n.oid = c.relnamespace
  cross join lateral (values
    ('USING', pg_get_expr(p.polqual, p.polrelid)),
    ('WITH CHECK', pg_get_expr(p.polwithcheck, p.polrelid))) as e(part, expr)
  where e.expr is not null
    and n.nspname <> all($2) and n.nspname !~ '^pg_'
),
peel as (
  select oid, part,
    regexp_replace(
      regexp_replace(
        -- string literals first: a parenthesis inside one would unbalance the peeling
        regexp_replace(expr, '''(?:[^'']|'''')*''', '''''', 'g'),
        '(^|[^\w.])(auth\.)?(uid|jwt|role|email)\(\)', '\1 @auth.\3@ ', 'gi'),
      '\mcurrent_setting\([^()]*\)', ' @current_setting@ ', 'gi') as s,
    0 as step
  from pol
  union all
  select peel.oid, peel.part, next.s, peel.step + 1
  from peel
  cross join lateral (select regexp_replace(
      regexp_replace(peel.s, '\(\s*select\s(?:(?!\mfrom\M)[^()])*\)', ' ', 'gi'),
      '\((?!\s*select\s(?:(?!\mfrom\M)[^()])*\))([^()]*)\)', '[\1]', 'gi') as s) as next
  -- stops when no parenthesis is left or a step changes nothing
  where peel.s ~ '[()]' and next.s <> peel.s
),
hits as (
  -- the last peeling step of each expression
  select distinct on (peel.oid, peel.part) peel.oid, peel.part,
         array(select distinct m[1] || '()' from regexp_matches(peel.s, '@([^@]+)@', 'g') as m order by 1) as calls
  from peel
  order by peel.oid, peel.part, peel.step desc
),
per_policy as (
  select pol.oid, pol.nspname, pol.relname, pol.polname,
         array_agg(distinct pol.part order by pol.part) as parts,
         array(select distinct c from hits h2, unnest(h2.calls) as c where h2.oid = pol.oid order by 1) as calls
  from pol
  join hits on hits.oid = pol.oid and hits.part = pol.part
  where cardinality(hits.calls) > 0
  group by pol.oid, pol.nspname, pol.relname, pol.polname
)
select
  format('Policy %I on %I.%I calls %s in its %s expression once per row.',
         polname, nspname, relname, array_to_string(calls, ', '), array_to_string(parts, ' and ')) as detail,
  format('Wrap each call in a sub-select so it runs once per query: %s.',
         array_to_string(array(select format('`%s` -> `(select %s)`', c, c) from unnest(calls) as c), ', ')) as remediation,
  jsonb_build_object('schema', nspname, 'name', relname, 'type', 'table', 'policy', polname,
                     'calls', to_jsonb(calls), 'expressions', to_jsonb(parts)) as metadata,
  format('auth_rls_initplan_%s_%s_%s', nspname, relname, polname) as cache_key
from per_policy
