-- pgbase schema cache: ONE catalog query returning ONE row with ONE json document.
--
-- $1 :: text[]  the exposed schemas (in configuration order).
-- $2 :: int     which part of the document to fill: 0 = all of it; 1 = `schemas` and
--               three quarters of `tables` (the relations with their columns, by far the
--               costliest part); 2 = the other quarter of `tables` and everything else.
--               What a part does not fill comes out as an empty array, and the CTEs only
--               it uses are never run (its subqueries are init plans, evaluated on first
--               use), so the reload listener runs parts 1 and 2 at once on two connections
--               sharing one snapshot and concatenates them (`src/load.rs`). A relation
--               belongs to part 2 when the hash of its oid ends in binary 11.
--
-- Run it with an empty search_path (`SET LOCAL search_path TO ''`) so that every
-- format_type / regclass / pg_get_expr output is schema-qualified unless it lives
-- in pg_catalog.
--
-- The document is deserialised by `src/load.rs` (struct `RawCatalog`); keep the two
-- in sync. Relationship derivation happens in Rust (`src/relationships.rs`); this
-- query only delivers the facts: relations, columns, keys, foreign keys (all of them,
-- for view propagation), view key dependencies, functions, computed-relationship
-- candidates, roles, types.
--
-- The view key dependency part (`transform_json` .. `recursion`) follows PostgREST's
-- `allViewsKeyDependencies` (SchemaCache.hs, MIT licence): it turns the stored
-- pg_node_tree of each view into json to find which base-table column every view
-- column is a plain reference to.
with recursive
exposed as (
  select n.oid, n.nspname, n.nspowner, n.nspacl
  from pg_namespace n
  where n.nspname = any ($1::text[])
),
-- ultimate base type of every domain (domains over domains are followed)
domain_chain(oid, base) as (
  select t.oid, t.typbasetype from pg_type t where t.typtype = 'd'
  union all
  select d.oid, t.typbasetype
  from domain_chain d
  join pg_type t on t.oid = d.base
  where t.typtype = 'd'
),
domain_base as (
  select d.oid, d.base
  from domain_chain d
  join pg_type t on t.oid = d.base
  where t.typtype <> 'd'
),
-- every foreign key of the database (outside the system schemas); relationship
-- derivation needs the ones between non-exposed base tables too (views over them).
-- Key column names here and below are looked up one by one by (attrelid, attnum), which
-- the index answers directly (a join of the key with pg_attribute scanned every column of
-- the table for every key).
fks as (
  select
    c.conrelid,
    json_build_object(
      'name', c.conname,
      'schema', sn.nspname,
      'table', sc.relname,
      'columns', (select json_agg((select a.attname from pg_attribute a
                            where a.attrelid = c.conrelid and a.attnum = k.attnum)
                           order by k.ord)
                  from unnest(c.conkey) with ordinality k(attnum, ord)),
      'referenced_schema', tn.nspname,
      'referenced_table', tc.relname,
      'referenced_columns', (select json_agg((select a.attname from pg_attribute a
                                       where a.attrelid = c.confrelid and a.attnum = k.attnum)
                                      order by k.ord)
                             from unnest(c.confkey) with ordinality k(attnum, ord)),
      -- the key's columns are exactly those of a primary key or unique constraint (in any
      -- order; such a constraint names no column twice, so containment both ways and equal
      -- lengths mean the same columns, without sorting two arrays per candidate)
      'unique', exists (
                  select 1 from pg_constraint u
                  where u.conrelid = c.conrelid and u.contype in ('p', 'u')
                    and u.conkey @> c.conkey and u.conkey <@ c.conkey
                    and cardinality(u.conkey) = cardinality(c.conkey)),
      'on_update', c.confupdtype::text,
      'on_delete', c.confdeltype::text,
      'comment', (select d.description from pg_description d
                  where d.objoid = c.oid and d.classoid = 'pg_constraint'::regclass and d.objsubid = 0)
    ) as j
  from pg_constraint c
  join pg_class sc on sc.oid = c.conrelid
  join pg_namespace sn on sn.oid = sc.relnamespace
  join pg_class tc on tc.oid = c.confrelid
  join pg_namespace tn on tn.oid = tc.relnamespace
  where c.contype = 'f'
    and c.conparentid = 0
    and sn.nspname not in ('pg_catalog', 'information_schema')
),
-- view key dependencies (PostgREST allViewsKeyDependencies)
pks_fks as (
  select contype::text as contype, conname, array_length(conkey, 1) as ncol,
         conrelid as resorigtbl, col as resorigcol, ord
  from pg_constraint
  left join lateral unnest(conkey) with ordinality as _(col, ord) on true
  where contype in ('p', 'f')
  union
  select concat(contype, '_ref') as contype, conname, array_length(confkey, 1) as ncol,
         confrelid, col, ord
  from pg_constraint
  left join lateral unnest(confkey) with ordinality as _(col, ord) on true
  where contype = 'f'
),
views as (
  select c.oid as view_id, n.nspname as view_schema, c.relname as view_name,
         r.ev_action as view_definition
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_rewrite r on r.ev_class = c.oid
  where c.relkind in ('v', 'm')
    and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname !~ '^pg_toast'
),
transform_json as (
  select view_id, view_schema, view_name,
    replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      regexp_replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
      replace(
        view_definition::text,
         '<>'              , '()'
      ), ','               , ''
      ), E'\\{'            , ''
      ), E'\\}'            , ''
      ), ' :targetList '   , ',"targetList":'
      ), ' :resno '        , ',"resno":'
      ), ' :resorigtbl '   , ',"resorigtbl":'
      ), ' :resorigcol '   , ',"resorigcol":'
      ), '{'               , '{ :'
      ), '(('              , '{(('
      ), '({'              , '{({'
      ), ' :[^}{,]+'       , ',"":'              , 'g'
      ), ',"":}'           , '}'
      ), ',"":,'           , ','
      ), '{('              , '('
      ), '{,'              , '{'
      ), '('               , '['
      ), ')'               , ']'
      ), ' '               , ','
    )::json as view_definition
  from views
),
target_entries as (
  select view_id, view_schema, view_name,
         json_array_elements(view_definition -> 0 -> 'targetList') as entry
  from transform_json
),
results as (
  select view_id, view_schema, view_name,
         (entry ->> 'resno')::int as view_column,
         (entry ->> 'resorigtbl')::oid as resorigtbl,
         (entry ->> 'resorigcol')::int as resorigcol
  from target_entries
),
recursion(view_id, view_schema, view_name, view_column, resorigtbl, resorigcol, is_cycle, path) as (
  select r.*, false, array[r.resorigtbl]
  from results r
  where r.view_schema = any ($1::text[])
  union all
  select view.view_id, view.view_schema, view.view_name, view.view_column,
         tab.resorigtbl, tab.resorigcol, tab.resorigtbl = any (path), path || tab.resorigtbl
  from recursion view
  join results tab on view.resorigtbl = tab.view_id and view.resorigcol = tab.view_column
  where not is_cycle
),
repeated_references as (
  select view_id, view_schema, view_name, resorigtbl, resorigcol,
         array_agg(attname) as view_columns
  from recursion
  join pg_attribute vcol on vcol.attrelid = view_id and vcol.attnum = view_column
  group by view_id, view_schema, view_name, resorigtbl, resorigcol
),
view_key_deps as (
  select
    json_build_object(
      'table_schema', sch.nspname,
      'table_name', tbl.relname,
      'view_schema', rep.view_schema,
      'view_name', rep.view_name,
      'constraint_name', pks_fks.conname,
      'constraint_type', pks_fks.contype,
      'columns', json_agg(json_build_array(col.attname, rep.view_columns) order by pks_fks.ord)
    ) as j
  from repeated_references rep
  join pks_fks using (resorigtbl, resorigcol)
  join pg_class tbl on tbl.oid = rep.resorigtbl
  join pg_attribute col on col.attrelid = tbl.oid and col.attnum = rep.resorigcol
  join pg_namespace sch on sch.oid = tbl.relnamespace
  group by sch.nspname, tbl.relname, rep.view_schema, rep.view_name, pks_fks.conname,
           pks_fks.contype, pks_fks.ncol
  -- only keys whose every column is referenced by the view
  having pks_fks.ncol = count(*)
),
-- the deepest plain-column origin of every view column of the exposed views
view_column_sources as (
  select distinct on (rc.view_id, rc.view_column)
    rc.view_id, rc.view_column,
    json_build_object('schema', sn.nspname, 'table', sc.relname, 'column', sa.attname) as j
  from recursion rc
  join pg_class sc on sc.oid = rc.resorigtbl
  join pg_namespace sn on sn.oid = sc.relnamespace
  join pg_attribute sa on sa.attrelid = rc.resorigtbl and sa.attnum = rc.resorigcol
  where rc.resorigtbl <> 0 and rc.resorigcol > 0
  order by rc.view_id, rc.view_column, array_length(rc.path, 1) desc
),
rels as (
  select c.oid, c.relname, c.relkind, c.relowner, c.relacl, c.relrowsecurity,
         c.relforcerowsecurity, n.nspname
  from pg_class c
  join exposed n on n.oid = c.relnamespace
  where c.relkind in ('r', 'v', 'm', 'f', 'p')
    and not c.relispartition
),
cols as (
  select
    a.attrelid,
    a.attnum,
    a.attname,
    a.atttypid,
    coalesce(db.base, a.atttypid) as base_oid,
    case when bt.typcategory = 'A' and bt.typelem <> 0 then bt.typelem end as element_oid,
    to_json(jc) as j
  from pg_attribute a
  join rels r on r.oid = a.attrelid
  join pg_type t on t.oid = a.atttypid
  join pg_namespace tn on tn.oid = t.typnamespace
  left join domain_base db on db.oid = a.atttypid
  left join pg_type bt on bt.oid = coalesce(db.base, a.atttypid)
  left join pg_type dt on dt.oid = t.typbasetype and t.typtype = 'd'
  left join pg_namespace btn on btn.oid = dt.typnamespace
  left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
  left join view_column_sources vcs on vcs.view_id = a.attrelid and vcs.view_column = a.attnum
  -- the column's json as a row (to_json of a record builds it at about half the cost of
  -- json_build_object, which looks up every argument's type again on every call)
  cross join lateral (select
      a.attname as name,
      a.attnum as ordinal,
      case
          when t.typtype = 'd' then
            case when btn.nspname = 'pg_catalog' then format_type(t.typbasetype, null)
                 else format_type(a.atttypid, a.atttypmod) end
          else
            case when tn.nspname = 'pg_catalog' then format_type(a.atttypid, null)
                 else format_type(a.atttypid, a.atttypmod) end
        end
        as data_type,
      format_type(a.atttypid, a.atttypmod) as nominal_type,
      a.atttypid::int8 as type_oid,
      coalesce(db.base, a.atttypid)::int8 as base_type_oid,
      (case when bt.typcategory = 'A' and bt.typelem <> 0 then bt.typelem end)::int8 as element_type_oid,
      not (a.attnotnull or (t.typtype = 'd' and t.typnotnull)) as nullable,
      case
          when a.attgenerated = 's' then null
          when a.attidentity = 'd' then
            format('nextval(%L::regclass)',
                   pg_get_serial_sequence(format('%I.%I', r.nspname, r.relname), a.attname))
          when ad.adbin is null and t.typtype = 'd' then pg_get_expr(t.typdefaultbin, 0)
          else pg_get_expr(ad.adbin, ad.adrelid)
        end
        as "default",
      case when a.attgenerated = 's' then pg_get_expr(ad.adbin, ad.adrelid) end as generation_expression,
      a.attgenerated::text as generated,
      a.attidentity::text as identity,
      (select cd.description from pg_description cd
                  where cd.objoid = a.attrelid and cd.classoid = 'pg_class'::regclass and cd.objsubid = a.attnum) as comment,
      -- information_schema._pg_char_max_length(_pg_truetypid(a, t), _pg_truetypmod(a, t)),
      -- written out: those SQL functions are strict, so never inlined, and their whole-row
      -- arguments made them a third of this CTE's time
      case
        when (case when t.typtype = 'd' then t.typtypmod else a.atttypmod end) = -1 then null
        when (case when t.typtype = 'd' then t.typbasetype else a.atttypid end)
             in (1042, 1043) -- char, varchar
          then (case when t.typtype = 'd' then t.typtypmod else a.atttypmod end) - 4
        when (case when t.typtype = 'd' then t.typbasetype else a.atttypid end)
             in (1560, 1562) -- bit, varbit
          then (case when t.typtype = 'd' then t.typtypmod else a.atttypmod end)
      end
        as max_length,
      -- (only enums have labels and only columns with an ACL have grants: the guards skip a
      -- subquery per column that would find nothing)
      case when bt.typtype = 'e' then
        (select json_agg(e.enumlabel order by e.enumsortorder)
         from pg_enum e where e.enumtypid = coalesce(db.base, a.atttypid)) end as enum_values,
      case when a.attacl is not null then
        (select json_agg(g) from (
           select case when x.grantee = 0 then null else pg_get_userbyid(x.grantee) end as grantee,
                  x.privilege_type as privilege, x.is_grantable as grantable
           from aclexplode(a.attacl) x) g) end as grants,
      vcs.j as source,
      (select json_build_object('schema', fn.nspname, 'name', f.proname)
                    from pg_cast pc
                    join pg_proc f on f.oid = pc.castfunc
                    join pg_namespace fn on fn.oid = f.pronamespace
                    where pc.castsource = 'json'::regtype and pc.casttarget = a.atttypid
                      and t.typtype = 'd' and pc.castcontext = 'i' and pc.castmethod = 'f'
                      and has_function_privilege(pc.castfunc, 'execute')
                    limit 1) as json_cast,
      (select json_build_object('schema', fn.nspname, 'name', f.proname)
                    from pg_cast pc
                    join pg_proc f on f.oid = pc.castfunc
                    join pg_namespace fn on fn.oid = f.pronamespace
                    where pc.castsource = 'text'::regtype and pc.casttarget = a.atttypid
                      and t.typtype = 'd' and pc.castcontext = 'i' and pc.castmethod = 'f'
                      and has_function_privilege(pc.castfunc, 'execute')
                    limit 1) as text_cast,
      (select json_build_object('schema', fn.nspname, 'name', f.proname)
                    from pg_cast pc
                    join pg_proc f on f.oid = pc.castfunc
                    join pg_namespace fn on fn.oid = f.pronamespace
                    where pc.castsource = a.atttypid and pc.casttarget = 'json'::regtype
                      and t.typtype = 'd' and pc.castcontext = 'i' and pc.castmethod = 'f'
                      and has_function_privilege(pc.castfunc, 'execute')
                    limit 1) as to_json_cast
  ) jc
  where a.attnum > 0 and not a.attisdropped
    and ($2 = 0 or ((hashoid(a.attrelid) & 3) = 3) = ($2 = 2))
),
-- the grants of each distinct relation ACL, once: most relations share one (their schema's
-- default privileges), and exploding the same ACL for every relation was a fifth of `tables`
rel_acls as (
  select d.acl,
         (select json_agg(g) from (
            select case when x.grantee = 0 then null else pg_get_userbyid(x.grantee) end as grantee,
                   x.privilege_type as privilege, x.is_grantable as grantable
            from aclexplode(d.acl) x) g) as grants
  from (select distinct coalesce(r.relacl, acldefault('r'::"char", r.relowner)) as acl
        from rels r) d
),
-- each relation's columns as one json array (joined, not a subquery per relation: that would
-- scan every column of every relation once per relation)
rel_cols as (
  select c.attrelid, json_agg(c.j order by c.attnum) as columns
  from cols c
  group by c.attrelid
),
funcs as (
  select p.oid, p.pronamespace, p.prorettype, p.proargtypes, n.nspname
  from pg_proc p
  join exposed n on n.oid = p.pronamespace
  where p.prokind = 'f'
    and p.prorettype not in ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
),
-- functions f(<row type of a relation>) returning (setof) <row type of a relation>;
-- any schema for the function, exposed schemas for both relations (PostgREST allComputedRels)
computed as (
  select json_build_object(
    'function_schema', pn.nspname,
    'function_name', p.proname,
    'function_oid', p.oid::int8,
    'source_schema', an.nspname,
    'source_table', ac.relname,
    'target_schema', rn.nspname,
    'target_table', rc.relname,
    'to_one', not p.proretset or p.prorows = 1
  ) as j
  from pg_proc p
  join pg_namespace pn on pn.oid = p.pronamespace
  join pg_type at on at.oid = p.proargtypes[0]
  join pg_class ac on ac.oid = at.typrelid and ac.relkind in ('r', 'v', 'm', 'f', 'p')
  join pg_namespace an on an.oid = ac.relnamespace
  join pg_type rt on rt.oid = p.prorettype
  join pg_class rc on rc.oid = rt.typrelid and rc.relkind in ('r', 'v', 'm', 'f', 'p')
  join pg_namespace rn on rn.oid = rc.relnamespace
  where p.pronargs = 1
    and p.prokind = 'f'
    and pn.nspname not in ('pg_catalog', 'information_schema')
    and an.nspname = any ($1::text[])
    and rn.nspname = any ($1::text[])
),
func_args as (
  select
    f.oid,
    json_agg(json_build_object(
      'name', nullif(x.name, ''),
      'type_oid', x.typ::int8,
      'type', format_type(x.typ, null),
      'mode', x.mode,
      'has_default', x.mode in ('i', 'b', 'v') and x.input_idx > p.pronargs - p.pronargdefaults
    ) order by x.ord) as args,
    array_agg(x.typ) as types
  from funcs f
  join pg_proc p on p.oid = f.oid
  cross join lateral (
    select u.typ, u.name, coalesce(u.mode, 'i') as mode, u.ord,
           count(*) filter (where coalesce(u.mode, 'i') in ('i', 'b', 'v')) over (order by u.ord) as input_idx
    from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes::text[])
         with ordinality as u(typ, name, mode, ord)
    where u.typ is not null
  ) x
  group by f.oid
),
-- the types of the exposed columns, without the json of `cols` (part 2 lists the types)
col_types as (
  select distinct a.atttypid, coalesce(db.base, a.atttypid) as base_oid,
         case when bt.typcategory = 'A' and bt.typelem <> 0 then bt.typelem end as element_oid
  from pg_attribute a
  join rels r on r.oid = a.attrelid
  left join domain_base db on db.oid = a.atttypid
  left join pg_type bt on bt.oid = coalesce(db.base, a.atttypid)
  where a.attnum > 0 and not a.attisdropped
),
used_types0(oid) as (
  select atttypid from col_types
  union select base_oid from col_types
  union select element_oid from col_types where element_oid is not null
  union select prorettype from funcs
  union select unnest(types) from func_args
  union select t.oid from pg_type t join exposed n on n.oid = t.typnamespace where t.typtype = 'e'
),
used_types(oid) as (
  select oid from used_types0
  union select db.base from used_types0 u join domain_base db on db.oid = u.oid
  union select t.typelem from used_types0 u
        join pg_type t on t.oid = coalesce((select db.base from domain_base db where db.oid = u.oid), u.oid)
        where t.typcategory = 'A' and t.typelem <> 0
)
select json_build_object(
  'schemas', case when $2 in (0, 1) then (
    select coalesce(json_agg(json_build_object(
      'name', n.nspname,
      'comment', (select d.description from pg_description d
                  where d.objoid = n.oid and d.classoid = 'pg_namespace'::regclass and d.objsubid = 0),
      'owner', pg_get_userbyid(n.nspowner),
      'grants', (select json_agg(g) from (
          select case when x.grantee = 0 then null else pg_get_userbyid(x.grantee) end as grantee,
                 x.privilege_type as privilege, x.is_grantable as grantable
          from aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) x) g)
    ) order by array_position($1::text[], n.nspname::text)), '[]')
    from exposed n
  ) else '[]' end,
  'tables', case when $2 in (0, 1, 2) then (
    select coalesce(json_agg(json_build_object(
      'oid', r.oid::int8,
      'schema', r.nspname,
      'name', r.relname,
      'kind', r.relkind::text,
      'owner', pg_get_userbyid(r.relowner),
      'comment', (select d.description from pg_description d
                  where d.objoid = r.oid and d.classoid = 'pg_class'::regclass and d.objsubid = 0),
      'insertable', r.relkind in ('r', 'p')
                    or (r.relkind in ('v', 'f') and (pg_relation_is_updatable(r.oid::regclass, true) & 8) = 8),
      'updatable',  r.relkind in ('r', 'p')
                    or (r.relkind in ('v', 'f') and (pg_relation_is_updatable(r.oid::regclass, true) & 4) = 4),
      'deletable',  r.relkind in ('r', 'p')
                    or (r.relkind in ('v', 'f') and (pg_relation_is_updatable(r.oid::regclass, true) & 16) = 16),
      'rls_enabled', r.relrowsecurity,
      'rls_forced', r.relforcerowsecurity,
      'columns', coalesce(rc.columns, '[]'),
      'primary_key', (
        select json_agg((select a.attname from pg_attribute a
                         where a.attrelid = c.conrelid and a.attnum = k.attnum)
                        order by k.ord)
        from pg_constraint c
        cross join lateral unnest(c.conkey) with ordinality k(attnum, ord)
        where c.conrelid = r.oid and c.contype = 'p'),
      'unique_constraints', (
        select json_agg(json_build_object(
          'name', c.conname,
          'columns', (select json_agg((select a.attname from pg_attribute a
                                where a.attrelid = c.conrelid and a.attnum = k.attnum)
                               order by k.ord)
                      from unnest(c.conkey) with ordinality k(attnum, ord))
        ) order by c.conname)
        from pg_constraint c
        where c.conrelid = r.oid and c.contype = 'u'),
      'unique_indexes', (
        select json_agg(json_build_object(
          'name', ic.relname,
          'columns', (select json_agg((select a.attname from pg_attribute a
                                where a.attrelid = i.indrelid and a.attnum = k.attnum)
                               order by k.ord)
                      from unnest(i.indkey::int2[]) with ordinality k(attnum, ord))
        ) order by ic.relname)
        from pg_index i
        join pg_class ic on ic.oid = i.indexrelid
        where i.indrelid = r.oid and i.indisunique and i.indpred is null and i.indexprs is null),
      'policies', (
        select json_agg(json_build_object(
          'name', p.polname,
          'command', p.polcmd::text,
          'permissive', p.polpermissive,
          'roles', (select json_agg(case when x = 0 then null else pg_get_userbyid(x) end)
                    from unnest(p.polroles) x),
          'using', pg_get_expr(p.polqual, p.polrelid),
          'with_check', pg_get_expr(p.polwithcheck, p.polrelid)
        ) order by p.polname)
        from pg_policy p
        where p.polrelid = r.oid),
      'grants', ra.grants
    ) order by r.nspname, r.relname), '[]')
    from rels r
    left join rel_cols rc on rc.attrelid = r.oid
    left join rel_acls ra on ra.acl = coalesce(r.relacl, acldefault('r'::"char", r.relowner))
    where $2 = 0 or ((hashoid(r.oid) & 3) = 3) = ($2 = 2)
  ) else '[]' end,
  'foreign_keys', case when $2 in (0, 2) then (select coalesce(json_agg(f.j), '[]') from fks f) else '[]' end,
  'view_key_dependencies', case when $2 in (0, 2) then (select coalesce(json_agg(v.j), '[]') from view_key_deps v) else '[]' end,
  'functions', case when $2 in (0, 2) then (
    select coalesce(json_agg(json_build_object(
      'oid', p.oid::int8,
      'schema', f.nspname,
      'name', p.proname,
      'comment', (select d.description from pg_description d
                  where d.objoid = p.oid and d.classoid = 'pg_proc'::regclass and d.objsubid = 0),
      'owner', pg_get_userbyid(p.proowner),
      'args', coalesce(fa.args, '[]'),
      'return_type', json_build_object(
        'oid', p.prorettype::int8,
        'name', format_type(p.prorettype, null),
        'base_oid', coalesce(db.base, p.prorettype)::int8,
        'kind', bt.typtype::text,
        'relation', case when rc.oid is not null then json_build_object(
                      'schema', rcn.nspname, 'name', rc.relname, 'kind', rc.relkind::text) end
      ),
      'returns_set', p.proretset,
      'has_out_args', coalesce(p.proargmodes::text[] && '{t,b,o}', false),
      'rows', case when p.proretset then p.prorows end,
      'volatility', p.provolatile::text,
      'strict', p.proisstrict,
      'security_definer', p.prosecdef,
      'language', l.lanname,
      'variadic', p.provariadic <> 0,
      'config', p.proconfig,
      'grants', (
        select json_agg(g) from (
          select case when x.grantee = 0 then null else pg_get_userbyid(x.grantee) end as grantee,
                 x.privilege_type as privilege, x.is_grantable as grantable
          from aclexplode(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) x) g)
    ) order by f.nspname, p.proname, p.oid), '[]')
    from funcs f
    join pg_proc p on p.oid = f.oid
    join pg_language l on l.oid = p.prolang
    left join func_args fa on fa.oid = f.oid
    left join domain_base db on db.oid = p.prorettype
    join pg_type bt on bt.oid = coalesce(db.base, p.prorettype)
    left join pg_class rc on rc.oid = bt.typrelid
    left join pg_namespace rcn on rcn.oid = rc.relnamespace
  ) else '[]' end,
  'computed_relationships', case when $2 in (0, 2) then (select coalesce(json_agg(c.j), '[]') from computed c) else '[]' end,
  'types', case when $2 in (0, 2) then (
    select coalesce(json_agg(json_build_object(
      'oid', t.oid::int8,
      'schema', n.nspname,
      'name', t.typname,
      'formatted', format_type(t.oid, null),
      'kind', t.typtype::text,
      'category', t.typcategory::text,
      'base_oid', db.base::int8,
      'element_oid', (case when t.typcategory = 'A' and t.typelem <> 0 then t.typelem end)::int8,
      'relation', case when t.typrelid <> 0 then (
                    select json_build_object('schema', cn.nspname, 'name', c.relname, 'kind', c.relkind::text)
                    from pg_class c join pg_namespace cn on cn.oid = c.relnamespace
                    where c.oid = t.typrelid) end,
      'enum_values', (select json_agg(e.enumlabel order by e.enumsortorder)
                      from pg_enum e where e.enumtypid = t.oid),
      'comment', (select d.description from pg_description d
                  where d.objoid = t.oid and d.classoid = 'pg_type'::regclass and d.objsubid = 0)
    ) order by t.oid), '[]')
    from used_types u
    join pg_type t on t.oid = u.oid
    join pg_namespace n on n.oid = t.typnamespace
    left join domain_base db on db.oid = t.oid
  ) else '[]' end,
  'roles', case when $2 in (0, 2) then (
    select coalesce(json_agg(json_build_object(
      'name', r.rolname,
      'superuser', r.rolsuper,
      'inherit', r.rolinherit,
      'bypass_rls', r.rolbypassrls,
      'can_login', r.rolcanlogin,
      -- `ALTER ROLE … [IN DATABASE …] SET`, the database-specific value winning; only
      -- settings any role may change (context 'user'), as a request applies them with
      -- set_config after switching from the login role.
      'settings', (
        select json_agg(json_build_object('name', kv.name, 'value', kv.value) order by kv.name)
        from (
          select distinct on (split_part(c.entry, '=', 1))
                 split_part(c.entry, '=', 1) as name,
                 substr(c.entry, strpos(c.entry, '=') + 1) as value
          from pg_db_role_setting s
          cross join lateral unnest(s.setconfig) as c(entry)
          where s.setrole = r.oid
            and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
          order by split_part(c.entry, '=', 1), s.setdatabase desc
        ) kv
        join pg_settings ps on ps.name = kv.name and ps.context = 'user'),
      'member_of', (
        select json_agg(json_build_object(
          'role', g.rolname,
          -- PostgreSQL 16+: per-grant INHERIT option; before: the member's rolinherit
          'inherit', coalesce((to_jsonb(m) ->> 'inherit_option')::bool, r.rolinherit)
        ) order by g.rolname)
        from pg_auth_members m
        join pg_roles g on g.oid = m.roleid
        where m.member = r.oid)
    ) order by r.rolname), '[]')
    from pg_roles r
  ) else '[]' end
)::text
