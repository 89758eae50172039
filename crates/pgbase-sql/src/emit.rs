//! The SQL emitter: a [`ReadPlan`] tree becomes one `SELECT` whose embedded relations are
//! `LEFT JOIN LATERAL` subqueries aggregated to JSON by Postgres, and [`statement`] wraps a
//! level into PostgREST's result shape (total, page count, body, response GUCs, location) —
//! REST's output shaper. Conditions, sources, order terms and column references are shared
//! with the GraphQL emitter; a level is tied to its parent by the shared join emitter
//! (`crate::emit_join`), and a write's CTEs come from [`crate::emit_write`].

use crate::Snippet;
use crate::emit_join::{self, Through, join_pairs};
use crate::plan::*;

/// The body a statement aggregates its rows into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// A JSON array of row objects.
    Array,
    /// The first row as an object (`null` when there is none).
    Object,
    /// A JSON array of the `pgrst_scalar` column.
    ScalarArray,
    /// The first `pgrst_scalar` value.
    Scalar,
    /// CSV: a header line from the first row's keys, then each row's text form (PostgREST's
    /// `asCsvF`).
    Csv,
    /// The `pgrst_scalar` values' text concatenated, for a raw media type (`text/plain`,
    /// `text/xml`; bytea as its hex text form).
    Raw,
    /// No body, only counts.
    None,
}

/// Maps a client-written cast type to a quoted canonical type name, or `None` when it is not a
/// plain (optionally array) type name.
pub fn cast_type(name: &str) -> Option<Snippet> {
    let trimmed = name.trim();
    let (base, array) = match trimmed.strip_suffix("[]") {
        Some(base) => (base.trim(), true),
        None => (trimmed, false),
    };
    let lower = base.to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "int" | "integer" | "int4" => "int4",
        "smallint" | "int2" => "int2",
        "bigint" | "int8" => "int8",
        "real" | "float4" => "float4",
        "float" | "double precision" | "float8" => "float8",
        "decimal" | "numeric" => "numeric",
        "bool" | "boolean" => "bool",
        "character varying" | "varchar" => "varchar",
        "char" | "character" | "bpchar" => "bpchar",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "time" | "time without time zone" => "time",
        "timetz" | "time with time zone" => "timetz",
        other => other,
    };
    let valid = !canonical.is_empty()
        && canonical
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !canonical.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return None;
    }
    let mut out = Snippet::ident(canonical);
    if array {
        out.push_sql("[]");
    }
    Some(out)
}

/// `alias` as a whole-row value, cast to `cast` when given.
fn row_value(alias: &str, cast: Option<&RowType>) -> Snippet {
    let mut out = Snippet::ident(alias);
    if let Some(ty) = cast {
        out.push_sql("::")
            .push(Snippet::qualified(&ty.schema, &ty.name));
    }
    out
}

/// An alias for a subquery nested in the level `alias`: `a` → `a_x1` → `a_x2` …, so aliases
/// stay short and distinct along any chain of nested subqueries.
pub(crate) fn nested_alias(alias: &str) -> String {
    if let Some((root, depth)) = alias.rsplit_once("_x")
        && let Ok(depth) = depth.parse::<u32>()
    {
        return format!("{root}_x{}", depth + 1);
    }
    format!("{alias}_x1")
}

pub(crate) fn column_ref(alias: &str, column: &ColumnRef) -> Snippet {
    let Some(via) = &column.via else {
        return column_of(alias, column);
    };
    // a column of the to-one related row: a scalar subquery
    let inner = format!("{alias}_v");
    let mut s = Snippet::sql("(select ");
    s.push(column_of(&inner, column))
        .push_sql(" from ")
        .push(Snippet::qualified(&via.schema, &via.table))
        .push_sql(" as ")
        .push_ident(&inner)
        .push_sql(" where ");
    s.push(join_pairs(&inner, alias, &via.pairs));
    s.push_sql(" limit 1)");
    s
}

fn column_of(alias: &str, column: &ColumnRef) -> Snippet {
    let mut out = match &column.computed {
        Some(computed) => {
            let mut call = Snippet::qualified(&computed.schema, &computed.function);
            call.push_sql("(")
                .push(row_value(alias, computed.row_cast.as_ref()))
                .push_sql(")");
            call
        }
        None => {
            let mut out = Snippet::ident(alias);
            out.push_sql(".").push_ident(&column.column);
            out
        }
    };
    if column.to_json && !column.json_path.is_empty() {
        // A composite or an array: its path applies to its JSON form, as in PostgREST.
        let mut wrapped = Snippet::sql("to_jsonb(");
        wrapped.push(out).push_sql(")");
        out = wrapped;
    }
    for step in &column.json_path {
        match step {
            JsonStep::Key { key, as_text } => {
                out.push_sql(if *as_text { "->>" } else { "->" });
                out.push(Snippet::param(key.clone())).push_sql("::text");
            }
            JsonStep::Index { index, as_text } => {
                out.push_sql(if *as_text { "->>(" } else { "->(" });
                out.push(Snippet::int(*index)).push_sql(")");
            }
        }
    }
    if !column.json_path.is_empty() {
        let mut wrapped = Snippet::sql("(");
        wrapped.push(out).push_sql(")");
        return wrapped;
    }
    if let Some(f) = &column.output {
        let mut wrapped = Snippet::qualified(&f.schema, &f.name);
        wrapped.push_sql("(").push(out).push_sql(")");
        return wrapped;
    }
    out
}

fn embed_alias(alias: &str, index: usize) -> String {
    format!("{alias}_{index}")
}

fn with_cast(expr: Snippet, cast: &Option<String>) -> Snippet {
    match cast.as_deref().and_then(cast_type) {
        Some(ty) => {
            let mut out = Snippet::sql("(");
            out.push(expr).push_sql(")::").push(ty);
            out
        }
        None => expr,
    }
}

fn select_list(plan: &ReadPlan, alias: &str) -> Snippet {
    let mut items = Vec::new();
    for expr in &plan.select {
        match expr {
            SelectExpr::Star => {
                let mut s = Snippet::ident(alias);
                s.push_sql(".*");
                items.push(s);
            }
            SelectExpr::Column {
                column,
                alias: out,
                cast,
            } => {
                let mut s = with_cast(column_ref(alias, column), cast);
                s.push_sql(" as ").push_ident(out);
                items.push(s);
            }
            SelectExpr::Aggregate {
                function,
                column,
                column_cast,
                alias: out,
                cast,
            } => {
                let mut s = Snippet::sql(function.name());
                s.push_sql("(");
                match column {
                    Some(c) => s.push(with_cast(column_ref(alias, c), column_cast)),
                    None => s.push_sql("*"),
                };
                s.push_sql(")");
                let mut s = with_cast(s, cast);
                s.push_sql(" as ").push_ident(out);
                items.push(s);
            }
            SelectExpr::Embed { embed } => {
                let Some(e) = plan.embeds.get(*embed) else {
                    continue;
                };
                if e.plan.outputs_nothing() {
                    // `rel()`: joined for filtering only, absent from the output.
                    continue;
                }
                let mut s = embed_output(plan, alias, *embed, e);
                s.push_sql(" as ").push_ident(&e.name);
                items.push(s);
            }
            SelectExpr::Spread { embed, columns } => {
                for column in columns {
                    let mut s = spread_output(alias, *embed, column);
                    s.push_sql(" as ").push_ident(column);
                    items.push(s);
                }
            }
        }
    }
    if items.is_empty() {
        // `select=` with nothing selectable still yields one (empty) object per row.
        return Snippet::sql("null::int as \"pgrst_empty\"");
    }
    Snippet::join(items, ", ")
}

/// The output value of an embed: its JSON, `[]` for an empty to-many embed. Grouped levels
/// (aggregates) use `jsonb`, which can be grouped by.
fn embed_output(plan: &ReadPlan, alias: &str, index: usize, embed: &Embed) -> Snippet {
    let value = embed_value(alias, index);
    let mut s = if embed.to_one {
        value
    } else {
        let mut c = Snippet::sql("coalesce(");
        c.push(value).push_sql(", '[]'::json)");
        c
    };
    if plan.has_aggregates() {
        let mut wrapped = Snippet::sql("(");
        wrapped.push(s).push_sql(")::jsonb");
        s = wrapped;
    }
    s
}

fn spread_output(alias: &str, index: usize, column: &str) -> Snippet {
    let mut s = embed_value(alias, index);
    s.push_sql("::jsonb->")
        .push(Snippet::param(column.to_string()));
    s.push_sql("::text");
    s
}

fn embed_value(alias: &str, index: usize) -> Snippet {
    let mut s = Snippet::ident(&embed_alias(alias, index));
    s.push_sql(".\"v\"");
    s
}

pub(crate) fn condition(cond: &Condition, alias: &str) -> Snippet {
    match cond {
        Condition::And(items) | Condition::Or(items) if items.is_empty() => {
            Snippet::sql(if matches!(cond, Condition::And(_)) {
                "true"
            } else {
                "false"
            })
        }
        Condition::And(items) => group(items, alias, " and "),
        Condition::Or(items) => group(items, alias, " or "),
        Condition::Not(inner) => {
            let mut s = Snippet::sql("not (");
            s.push(condition(inner, alias)).push_sql(")");
            s
        }
        Condition::Compare {
            column,
            op,
            operand,
        } => {
            let mut s = column_ref(alias, column);
            s.push_sql(" ").push(Snippet::sql(op)).push_sql(" ");
            let input = column
                .input
                .as_ref()
                .filter(|_| column.json_path.is_empty());
            match (operand, input) {
                (Operand::Value(v), Some(f)) => s
                    .push(Snippet::qualified(&f.schema, &f.name))
                    .push_sql("(")
                    .push(Snippet::param(v.clone()))
                    .push_sql("::text)"),
                (Operand::Any(v) | Operand::All(v), Some(f)) => s
                    .push_sql(if matches!(operand, Operand::Any(_)) {
                        "any(array(select "
                    } else {
                        "all(array(select "
                    })
                    .push(Snippet::qualified(&f.schema, &f.name))
                    .push_sql("(pgrst_x) from unnest(")
                    .push(Snippet::param(v.clone()))
                    .push_sql("::text[]) as pgrst_x))"),
                (Operand::Value(v), None) => s.push(Snippet::param(v.clone())),
                (Operand::Any(v), None) => s
                    .push_sql("any(")
                    .push(Snippet::param(v.clone()))
                    .push_sql(")"),
                (Operand::All(v), None) => s
                    .push_sql("all(")
                    .push(Snippet::param(v.clone()))
                    .push_sql(")"),
            };
            s
        }
        Condition::Is { column, what } => {
            let mut s = column_ref(alias, column);
            s.push_sql(" is ").push(Snippet::sql(what));
            s
        }
        Condition::TextSearch {
            column,
            function,
            language,
            value,
            to_tsvector,
        } => {
            let mut s = if *to_tsvector {
                let mut w = Snippet::sql("to_tsvector(");
                if let Some(lang) = language {
                    w.push(Snippet::param(lang.clone()))
                        .push_sql("::regconfig, ");
                }
                w.push(column_ref(alias, column)).push_sql("::text)");
                w
            } else {
                column_ref(alias, column)
            };
            s.push_sql(" @@ ")
                .push(Snippet::sql(function))
                .push_sql("(");
            if let Some(lang) = language {
                s.push(Snippet::param(lang.clone()))
                    .push_sql("::regconfig, ");
            }
            s.push(Snippet::param(value.clone())).push_sql(")");
            s
        }
        Condition::EmbedPresent { embed, present } => {
            let mut s = embed_value(alias, *embed);
            s.push_sql(if *present { " is not null" } else { " is null" });
            s
        }
        Condition::Exists { plan, join } => {
            let mut s = Snippet::sql("exists(");
            s.push(level(
                plan,
                &nested_alias(alias),
                Some((alias, join)),
                Mode::Count,
            ))
            .push_sql(")");
            s
        }
    }
}

fn group(items: &[Condition], alias: &str, separator: &'static str) -> Snippet {
    let mut s = Snippet::sql("(");
    s.push(Snippet::join(
        items.iter().map(|c| condition(c, alias)),
        separator,
    ));
    s.push_sql(")");
    s
}

/// `<source> as alias`; `parent_alias` is the row a computed source is called with.
pub(crate) fn source(source: &Source, alias: &str, parent_alias: Option<&str>) -> Snippet {
    let mut s = match source {
        Source::Table { schema, name } => Snippet::qualified(schema, name),
        Source::ComputedOverParent {
            schema,
            function,
            parent_cast,
        } => {
            let mut f = Snippet::qualified(schema, function);
            f.push_sql("(");
            if let Some(parent) = parent_alias {
                f.push(row_value(parent, parent_cast.as_ref()));
            }
            f.push_sql(")");
            f
        }
        Source::Cte(name) => Snippet::sql(name),
        Source::Function {
            schema,
            function,
            args,
        } => {
            let mut f = Snippet::qualified(schema, function);
            f.push_sql("(").push(named_args(args)).push_sql(")");
            f
        }
    };
    s.push_sql(" as ").push_ident(alias);
    s
}

/// `name := $1, …` (`None` = NULL).
pub(crate) fn named_args(args: &[(String, Option<String>)]) -> Snippet {
    Snippet::join(
        args.iter().map(|(name, value)| {
            let mut a = Snippet::ident(name);
            a.push_sql(" := ");
            a.push(match value {
                Some(v) => Snippet::param(v.clone()),
                None => Snippet::null_param(),
            });
            a
        }),
        ", ",
    )
}

/// How much of a level to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rows,
    /// `select 1 …` with filters but no order or range, for counting.
    Count,
}

fn level(plan: &ReadPlan, alias: &str, parent: Option<(&str, &Join)>, mode: Mode) -> Snippet {
    let mut s = Snippet::sql("select ");
    match mode {
        Mode::Rows => s.push(select_list(plan, alias)),
        Mode::Count => s.push_sql("1"),
    };
    s.push_sql(" from ")
        .push(source(&plan.source, alias, parent.map(|(a, _)| a)));
    let mut conditions: Vec<Snippet> = Vec::new();
    if let Some((parent_alias, join)) = parent {
        let joined = emit_join::join(join, alias, parent_alias, Through::Join);
        s.push(joined.from);
        conditions.extend(joined.conditions);
    }
    for (index, embed) in plan.embeds.iter().enumerate() {
        let child_alias = embed_alias(alias, index);
        let row_alias = format!("{child_alias}_row");
        s.push_sql(" left join lateral (select ");
        s.push_sql(if embed.to_one {
            "row_to_json("
        } else {
            "json_agg("
        });
        s.push_ident(&row_alias).push_sql(") as \"v\" from (");
        s.push(level(
            &embed.plan,
            &format!("{child_alias}_t"),
            Some((alias, &embed.join)),
            Mode::Rows,
        ));
        s.push_sql(") as ").push_ident(&row_alias);
        if embed.to_one {
            s.push_sql(" limit 1");
        }
        s.push_sql(") as ")
            .push_ident(&child_alias)
            .push_sql(" on true");
        if embed.inner {
            let mut c = embed_value(alias, index);
            c.push_sql(" is not null");
            conditions.push(c);
        }
    }
    conditions.extend(plan.filter.iter().map(|c| condition(c, alias)));
    if !conditions.is_empty() {
        s.push_sql(" where ")
            .push(Snippet::join(conditions, " and "));
    }
    if mode == Mode::Count {
        return s;
    }
    if plan.has_aggregates() {
        let grouped: Vec<Snippet> = plan
            .select
            .iter()
            .flat_map(|e| match e {
                SelectExpr::Column { column, cast, .. } => {
                    vec![with_cast(column_ref(alias, column), cast)]
                }
                SelectExpr::Embed { embed } => plan
                    .embeds
                    .get(*embed)
                    .filter(|e| !e.plan.outputs_nothing())
                    .map(|e| embed_output(plan, alias, *embed, e))
                    .into_iter()
                    .collect(),
                SelectExpr::Spread { embed, columns } => columns
                    .iter()
                    .map(|c| spread_output(alias, *embed, c))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        if !grouped.is_empty() {
            s.push_sql(" group by ").push(Snippet::join(grouped, ", "));
        }
    }
    if !plan.order.is_empty() {
        s.push_sql(" order by ")
            .push(order_terms(&plan.order, alias));
    }
    if let Some(limit) = plan.limit {
        s.push_sql(" limit ")
            .push(Snippet::int(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    if plan.offset > 0 {
        s.push_sql(" offset ")
            .push(Snippet::int(i64::try_from(plan.offset).unwrap_or(i64::MAX)));
    }
    s
}

pub(crate) fn order_terms(order: &[OrderExpr], alias: &str) -> Snippet {
    let terms = order.iter().map(|o| {
        let mut t = match &o.target {
            OrderTarget::Column(c) => column_ref(alias, c),
            OrderTarget::EmbedColumn { embed, column } => {
                let mut t = Snippet::sql("(");
                t.push(embed_value(alias, *embed))
                    .push_sql("::jsonb -> ")
                    .push(Snippet::param(column.clone()))
                    .push_sql("::text)");
                t
            }
        };
        t.push_sql(if o.descending { " desc" } else { " asc" });
        match o.nulls {
            Some(Nulls::First) => t.push_sql(" nulls first"),
            Some(Nulls::Last) => t.push_sql(" nulls last"),
            None => &mut t,
        };
        t
    });
    Snippet::join(terms, ", ")
}

/// The alias of the root level in every statement.
pub const ROOT_ALIAS: &str = "pgrst_t";

/// The rows of a read (no wrapping): used as the `pgrst_source` CTE and for EXPLAIN.
pub fn read_rows(plan: &ReadPlan) -> Snippet {
    level(plan, ROOT_ALIAS, None, Mode::Rows)
}

/// `select 1 …` over the root with its filters (and `!inner` embeds) for an exact count.
pub fn read_count(plan: &ReadPlan) -> Snippet {
    level(plan, ROOT_ALIAS, None, Mode::Count)
}

/// Options of the final statement.
#[derive(Debug, Clone, Default)]
pub struct StatementOptions {
    /// Count the whole result set (exact count) with this query.
    pub count: Option<Snippet>,
    /// Primary-key columns for the `Location` header of an insert: the sixth column is then,
    /// for exactly one row, the JSON array of `[column, "eq.<value>" | "is.null"]` pairs.
    pub location_columns: Vec<String>,
    /// The statement is an insert: report how many rows were inserted (not updated by an
    /// upsert) as the seventh column.
    pub inserted: bool,
    /// `json_strip_nulls` over the JSON body (`nulls=stripped`).
    pub strip_nulls: bool,
}

/// Wraps `prefix` (CTEs ending with `pgrst_source as (…)`, or nothing) and the rows query into
/// PostgREST's result row: `(total, page_total, body, response_headers, response_status,
/// location, inserted)`.
pub fn statement(
    ctes: Snippet,
    rows: Snippet,
    shape: BodyShape,
    options: StatementOptions,
) -> Snippet {
    let mut s = Snippet::sql("with ");
    if !ctes.is_empty() {
        s.push(ctes).push_sql(", ");
    }
    s.push_sql("pgrst_rows as (")
        .push(rows)
        .push_sql(") select ");
    match options.count {
        Some(count) => {
            s.push_sql("(select count(*) from (")
                .push(count)
                .push_sql(") as pgrst_count)::int8");
        }
        None => {
            s.push_sql("null::int8");
        }
    }
    s.push_sql(", count(pgrst_rows)::int8, ");
    let strip = options.strip_nulls
        && matches!(
            shape,
            BodyShape::Array | BodyShape::Object | BodyShape::ScalarArray | BodyShape::Scalar
        );
    if strip {
        s.push_sql("json_strip_nulls((");
    }
    s.push_sql(match shape {
        BodyShape::Array => "coalesce(json_agg(pgrst_rows), '[]')::text",
        BodyShape::Object => "coalesce((json_agg(pgrst_rows)->0)::text, 'null')",
        BodyShape::ScalarArray => "coalesce(json_agg(pgrst_rows.pgrst_scalar), '[]')::text",
        BodyShape::Scalar => "coalesce((json_agg(pgrst_rows.pgrst_scalar)->0)::text, 'null')",
        BodyShape::Csv => {
            "(select coalesce(string_agg(pgrst_k, ','), '') from (select json_object_keys(pgrst_r) as pgrst_k \
             from (select row_to_json(pgrst_h) as pgrst_r from pgrst_rows as pgrst_h limit 1) as pgrst_s) as pgrst_a) \
             || E'\\n' || coalesce(string_agg(substring(pgrst_rows::text, 2, length(pgrst_rows::text) - 2), E'\\n'), '')"
        }
        BodyShape::Raw => "coalesce(string_agg(pgrst_rows.pgrst_scalar::text, ''), '')",
        BodyShape::None => "null::text",
    });
    if strip {
        s.push_sql(")::json)::text");
    }
    s.push_sql(
        ", nullif(current_setting('response.headers', true), ''), \
         nullif(current_setting('response.status', true), ''), ",
    );
    if options.location_columns.is_empty() {
        s.push_sql("null::text");
    } else {
        // Only for exactly one row (PostgREST 12): `[[column, "eq.value" | "is.null"], …]`,
        // for the front end to encode as a query string.
        s.push_sql("case when count(pgrst_rows) = 1 then (select json_build_array(");
        let parts = options.location_columns.iter().map(|column| {
            let mut p = Snippet::sql("json_build_array(");
            p.push(Snippet::param(column.as_str()))
                .push_sql("::text, coalesce('eq.' || pgrst_source.")
                .push_ident(column)
                .push_sql("::text, 'is.null'))");
            p
        });
        s.push(Snippet::join(parts, ", "));
        s.push_sql(")::text from pgrst_source limit 1) end");
    }
    if options.inserted {
        // The rows written less the rows its `do update` counted as updated.
        s.push_sql(
            ", (select count(*) from pgrst_written)::int8 \
             - coalesce(nullif(current_setting('pgrst.updated', true), '')::int8, 0)",
        );
    } else {
        s.push_sql(", null::int8");
    }
    s.push_sql(" from pgrst_rows");
    s
}

/// The `pgrst_source` CTE of a function call. The plan is consumed: a whole-body JSON
/// argument becomes the bind parameter without a copy.
pub fn call_cte(plan: CallPlan) -> Snippet {
    let mut call = Snippet::qualified(&plan.schema, &plan.function);
    call.push_sql("(");
    match plan.args {
        CallArgs::Named(args) => match &plan.variadic {
            Some(variadic) if args.iter().any(|(name, _)| name == variadic) => {
                call.push(Snippet::join(
                    args.iter().map(|(name, value)| {
                        let mut a = Snippet::sql(if name == variadic { "variadic " } else { "" });
                        a.push(named_args(std::slice::from_ref(&(
                            name.clone(),
                            value.clone(),
                        ))));
                        a
                    }),
                    ", ",
                ));
            }
            _ => {
                call.push(named_args(&args));
            }
        },
        CallArgs::Whole { body, arg_type } => {
            call.push(Snippet::param(body));
            call.push_sql(match arg_type {
                WholeBodyType::Json => "::json",
                WholeBodyType::Jsonb => "::jsonb",
                WholeBodyType::Text => "::text",
                WholeBodyType::Xml => "::xml",
                WholeBodyType::Bytea => "::bytea",
            });
        }
    }
    call.push_sql(")");
    let mut s = Snippet::sql("pgrst_source as (select ");
    if plan.scalar {
        s.push(call).push_sql(" as pgrst_scalar)");
    } else {
        s.push_sql("* from ").push(call).push_sql(" as pgrst_call)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn films() -> ReadPlan {
        let mut plan = ReadPlan::new(Source::Table {
            schema: "public".into(),
            name: "films".into(),
        });
        plan.select.push(SelectExpr::Column {
            column: ColumnRef::new("title"),
            alias: "title".into(),
            cast: None,
        });
        plan
    }

    #[test]
    fn a_filtered_ordered_page_is_one_select_with_parameters() {
        let mut plan = films();
        plan.filter.push(Condition::Compare {
            column: ColumnRef::new("year"),
            op: ">",
            operand: Operand::Value("2000".into()),
        });
        plan.order.push(OrderExpr {
            target: OrderTarget::Column(ColumnRef::new("title")),
            descending: true,
            nulls: Some(Nulls::Last),
        });
        plan.limit = Some(10);
        plan.offset = 5;
        let (sql, params) = read_rows(&plan).render();
        assert_eq!(
            sql,
            "select \"pgrst_t\".\"title\" as \"title\" from \"public\".\"films\" as \"pgrst_t\" \
             where \"pgrst_t\".\"year\" > $1 order by \"pgrst_t\".\"title\" desc nulls last limit 10 offset 5"
        );
        assert_eq!(params.len(), 1);
    }

    #[test]
    fn embeds_are_lateral_json_subqueries() {
        let mut plan = films();
        let mut child = ReadPlan::new(Source::Table {
            schema: "public".into(),
            name: "roles".into(),
        });
        child.select.push(SelectExpr::Star);
        plan.embeds.push(Embed {
            name: "roles".into(),
            plan: child,
            join: Join::Columns(vec![("id".into(), "film_id".into())]),
            to_one: false,
            inner: true,
        });
        plan.select.push(SelectExpr::Embed { embed: 0 });
        let (sql, _) = read_rows(&plan).render();
        assert!(sql.contains("left join lateral (select json_agg(\"pgrst_t_0_row\") as \"v\" from (select \"pgrst_t_0_t\".* from \"public\".\"roles\" as \"pgrst_t_0_t\" where \"pgrst_t_0_t\".\"film_id\" = \"pgrst_t\".\"id\")"), "{sql}");
        assert!(
            sql.contains("coalesce(\"pgrst_t_0\".\"v\", '[]'::json) as \"roles\""),
            "{sql}"
        );
        assert!(
            sql.contains("where \"pgrst_t_0\".\"v\" is not null"),
            "{sql}"
        );
    }

    #[test]
    fn cast_types_are_canonical_quoted_names_or_refused() {
        assert_eq!(
            cast_type("int").map(|s| s.render().0),
            Some("\"int4\"".into())
        );
        assert_eq!(
            cast_type("text[]").map(|s| s.render().0),
            Some("\"text\"[]".into())
        );
        assert!(cast_type("text); drop table x; --").is_none());
        assert!(cast_type("").is_none());
    }

    #[test]
    fn json_path_keys_are_parameters() {
        let mut plan = films();
        plan.select = vec![SelectExpr::Column {
            column: ColumnRef {
                computed: None,
                via: None,
                to_json: false,
                output: None,
                input: None,
                column: "data".into(),
                json_path: vec![
                    JsonStep::Key {
                        key: "a'b".into(),
                        as_text: false,
                    },
                    JsonStep::Index {
                        index: -1,
                        as_text: true,
                    },
                ],
            },
            alias: "x".into(),
            cast: None,
        }];
        let (sql, params) = read_rows(&plan).render();
        assert!(
            sql.starts_with("select (\"pgrst_t\".\"data\"->$1::text->>(-1)) as \"x\""),
            "{sql}"
        );
        assert_eq!(params[0].0.as_deref(), Some("a'b"));
    }
}
