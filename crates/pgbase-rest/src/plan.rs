//! The planner: a parsed [`ApiRequest`](crate::request::ApiRequest) resolved against the schema cache into the shared plan
//! tree of `pgbase-sql` — tables and columns checked (with "Perhaps you meant" hints),
//! relationships found for embeds (PGRST200/201), filters, order and ranges placed on the right
//! level, writes and function calls shaped. No I/O.

use std::collections::BTreeSet;

use http::StatusCode;
use pgbase_catalog::{Cardinality, Function, Link, Relationship, ReturnShape, SchemaCache, Table};
use pgbase_sql::plan::Aggregate;
use pgbase_sql::plan::WholeBodyType;
use pgbase_sql::plan::{
    CallArgs, CallPlan, ColumnRef, ComputedField, Condition, Embed, FunctionName, InsertGroup,
    InsertRows, Join, JsonStep, Nulls, OnConflict, Operand, OrderExpr,
    OrderTarget as PlanOrderTarget, PayloadSource, ReadPlan, Representation, RowType, SelectExpr,
    Source, Write, WritePlan, WriteReturning,
};

use crate::ast::{
    AggregateFunction, EmbedSelect, Field, Filter, JoinType, JsonOperand, JsonOperation,
    LogicOperator, LogicTree, OpExpr, Operation, OrderDirection, OrderNulls, OrderTarget,
    OrderTerm, Quantifier, SelectItem,
};
use crate::error::ApiError;
use crate::query::QueryParams;
use crate::range::RowRange;
use pgbase_catalog::suggest::{closest, similarity};

/// Everything the planner needs besides the request.
pub struct PlanContext<'a> {
    pub cache: &'a SchemaCache,
    pub schema: &'a str,
    pub max_rows: Option<u64>,
}

/// `Could not find the table 's.t' in the schema cache` (PGRST205, 404).
pub fn find_table<'a>(ctx: &PlanContext<'a>, name: &str) -> Result<&'a Table, ApiError> {
    if let Some(table) = ctx.cache.table(ctx.schema, name) {
        return Ok(table);
    }
    let mut error = ApiError::new(
        "PGRST205",
        StatusCode::NOT_FOUND,
        format!(
            "Could not find the table '{}.{}' in the schema cache",
            ctx.schema, name
        ),
    );
    let names: Vec<&str> = ctx
        .cache
        .tables_in(ctx.schema)
        .map(|t| t.name.as_str())
        .collect();
    if let Some(near) = closest(name, names) {
        error = error.with_hint(format!(
            "Perhaps you meant the table '{}.{}'",
            ctx.schema, near
        ));
    }
    Err(error)
}

fn unknown_column(table: &Table, column: &str) -> ApiError {
    let mut error = ApiError::new(
        "42703",
        StatusCode::BAD_REQUEST,
        format!("column {}.{} does not exist", table.name, column),
    );
    if let Some(near) = closest(column, table.columns.iter().map(|c| c.name.as_str())) {
        error = error.with_hint(format!(
            "Perhaps you meant to reference the column \"{}.{}\".",
            table.name, near
        ));
    }
    error
}

/// PGRST204: a payload or `columns=` key that is not a column.
fn unknown_payload_column(table: &Table, column: &str) -> ApiError {
    let mut error = ApiError::new(
        "PGRST204",
        StatusCode::BAD_REQUEST,
        format!(
            "Could not find the '{}' column of '{}' in the schema cache",
            column, table.name
        ),
    );
    if let Some(near) = closest(column, table.columns.iter().map(|c| c.name.as_str())) {
        error = error.with_hint(format!("Perhaps you meant the '{near}' column"));
    }
    error
}

/// The relation a level reads, for resolving its column names.
pub struct Scope<'c, 'a> {
    pub ctx: &'c PlanContext<'a>,
    pub table: &'c Table,
    /// Rows of this level come from a CTE: computed fields cast the row to the table's type.
    pub row_cast: Option<RowType>,
}

impl<'c, 'a> Scope<'c, 'a> {
    /// A level reading `table` from `source`.
    pub fn new(ctx: &'c PlanContext<'a>, table: &'c Table, source: &Source) -> Scope<'c, 'a> {
        Scope {
            ctx,
            table,
            row_cast: matches!(source, Source::Cte(_)).then(|| RowType {
                schema: table.schema.clone(),
                name: table.name.clone(),
            }),
        }
    }

    /// A column of the table, or a computed field (`f(table) returns …`, not a set).
    fn resolve(&self, field: &Field) -> Result<ColumnRef, ApiError> {
        let mut column = column_ref(field);
        if let Some(stored) = self.table.column(&field.name) {
            column.to_json = !is_json_oid(stored.base_type_oid);
            return Ok(column);
        }
        match computed_field(self.ctx.cache, self.table, &field.name) {
            Some(function) => {
                column.to_json = !is_json_oid(function.return_type.base_oid);
                column.computed = Some(ComputedField {
                    schema: function.schema.clone(),
                    function: function.name.clone(),
                    row_cast: self.row_cast.clone(),
                });
                Ok(column)
            }
            None => Err(unknown_column(self.table, &field.name)),
        }
    }

    /// `resolve` for a selected column: a stored column with a data representation goes out
    /// through its `domain → json` cast function.
    fn resolve_output(&self, field: &Field) -> Result<ColumnRef, ApiError> {
        let mut column = self.resolve(field)?;
        if column.computed.is_none() && column.json_path.is_empty() {
            column.output = self
                .table
                .column(&field.name)
                .and_then(|c| c.to_json_cast.as_ref())
                .map(function_name);
        }
        Ok(column)
    }

    /// `resolve` for a filtered column: values of a column with a data representation go in
    /// through its `text → domain` cast function.
    fn resolve_filter(&self, field: &Field) -> Result<ColumnRef, ApiError> {
        let mut column = self.resolve(field)?;
        if column.computed.is_none() && column.json_path.is_empty() {
            column.input = self
                .table
                .column(&field.name)
                .and_then(|c| c.text_cast.as_ref())
                .map(function_name);
        }
        Ok(column)
    }

    /// Whether `field` is (or starts from) a `tsvector` value.
    fn is_tsvector(&self, field: &Field) -> bool {
        if !field.json_path.is_empty() {
            return false;
        }
        match self.table.column(&field.name) {
            Some(column) => column.data_type == "tsvector",
            None => computed_field(self.ctx.cache, self.table, &field.name)
                .is_some_and(|f| f.return_type.name == "tsvector"),
        }
    }
}

/// Whether `arg` takes a row of `table`.
fn takes_row_of(cache: &SchemaCache, arg: &pgbase_catalog::FunctionArg, table: &Table) -> bool {
    match cache
        .type_by_oid(arg.type_oid)
        .and_then(|t| t.relation.as_ref())
    {
        Some(rel) => rel.schema == table.schema && rel.name == table.name,
        None => {
            arg.type_name == table.name
                || arg.type_name == format!("{}.{}", table.schema, table.name)
        }
    }
}

/// The computed field `name` of `table`: a function of the table's schema taking one row of
/// the table and returning a single value.
pub fn computed_field<'a>(
    cache: &'a SchemaCache,
    table: &Table,
    name: &str,
) -> Option<&'a Function> {
    cache
        .function_overloads(&table.schema, name)
        .iter()
        .find(|f| {
            let inputs: Vec<_> = f.input_args().collect();
            !f.returns_set
                && !matches!(f.return_shape(), ReturnShape::Void | ReturnShape::Pseudo)
                && inputs.len() == 1
                && inputs
                    .first()
                    .is_some_and(|a| takes_row_of(cache, a, table))
        })
}

/// `json` or `jsonb` (the base type of a domain included).
fn is_json_oid(oid: u32) -> bool {
    const JSON: u32 = 114;
    const JSONB: u32 = 3802;
    oid == JSON || oid == JSONB
}

fn function_name(f: &pgbase_catalog::CastFunction) -> Box<FunctionName> {
    Box::new(FunctionName {
        schema: f.schema.clone(),
        name: f.name.clone(),
    })
}

/// Whether a `*` of `table` must be spelt out: some column has a `domain → json` data
/// representation, which `t.*` would not apply.
fn star_needs_columns(table: &Table) -> bool {
    table.columns.iter().any(|c| c.to_json_cast.is_some())
}

fn column_ref(field: &Field) -> ColumnRef {
    ColumnRef {
        computed: None,
        via: None,
        to_json: false,
        output: None,
        input: None,
        column: field.name.clone(),
        json_path: field
            .json_path
            .iter()
            .map(|op| {
                let (operand, as_text) = match op {
                    JsonOperation::Arrow(o) => (o, false),
                    JsonOperation::DoubleArrow(o) => (o, true),
                };
                match operand {
                    JsonOperand::Key(key) => JsonStep::Key {
                        key: key.clone(),
                        as_text,
                    },
                    JsonOperand::Index(index) => JsonStep::Index {
                        index: *index,
                        as_text,
                    },
                }
            })
            .collect(),
    }
}

fn invalid_cast(cast: &str) -> ApiError {
    ApiError::new(
        "PGRST100",
        StatusCode::BAD_REQUEST,
        format!("failed to parse select parameter: unknown cast type \"{cast}\""),
    )
    .with_hint("Cast to a plain type name such as text, int, numeric, json or date")
}

fn validated_cast(cast: &Option<String>) -> Result<Option<String>, ApiError> {
    match cast {
        Some(c) if pgbase_sql::emit::cast_type(c).is_none() => Err(invalid_cast(c)),
        other => Ok(other.clone()),
    }
}

/// The name an embed is addressed by in filters/order paths: its alias, else the relation.
fn embed_key(embed: &EmbedSelect) -> &str {
    embed.alias.as_deref().unwrap_or(&embed.relation)
}

/// Postgres' limit on the entries of one target list (`MaxTupleAttributeNumber`); a longer
/// select list fails with 54011.
pub const MAX_SELECT_ITEMS: usize = 1664;

/// Builds the read plan of `table` for `select` at `path`, with the query's filters, order and
/// ranges for that path.
///
/// At the root (`path` empty), the embed paths of filters, `and`/`or`, `order` and
/// `limit`/`offset` are first resolved against `select` as PostgREST 12 does before it looks
/// for any relationship: each step names an embed by its relation or by its alias, and a step
/// naming no embed is PGRST108.
pub fn read_plan(
    ctx: &PlanContext<'_>,
    table: &Table,
    source: Source,
    select: &[SelectItem],
    query: &QueryParams,
    path: &[String],
    range: RowRange,
) -> Result<ReadPlan, ApiError> {
    if !path.is_empty() {
        return read_level(ctx, table, source, select, query, path, range);
    }
    let query = canonical_paths(select, query)?;
    check_relationships(ctx, table, select)?;
    read_level(ctx, table, source, select, &query, path, range)
}

/// Finds the relationship of every embed in `select`, depth first, so that PGRST200/201 come
/// before any error about columns, as in PostgREST 12 (which leaves columns to Postgres).
fn check_relationships(
    ctx: &PlanContext<'_>,
    table: &Table,
    select: &[SelectItem],
) -> Result<(), ApiError> {
    for item in select {
        if let SelectItem::Relation(embed) | SelectItem::Spread(embed) = item {
            let relationship = find_relationship(ctx, table, embed)?;
            if let Some(target) = ctx
                .cache
                .table(&relationship.target.schema, &relationship.target.name)
            {
                check_relationships(ctx, target, &embed.children)?;
            }
        }
    }
    Ok(())
}

/// The embed of `items` a path step names: the first whose relation or alias it is.
fn named_embed<'s>(items: &'s [SelectItem], step: &str) -> Option<&'s EmbedSelect> {
    items.iter().find_map(|item| match item {
        SelectItem::Relation(embed) | SelectItem::Spread(embed)
            if embed.relation == step || embed.alias.as_deref() == Some(step) =>
        {
            Some(embed)
        }
        _ => None,
    })
}

/// `path` with every step replaced by the key the planner addresses that embed by (its alias,
/// else its relation), or the first step that names no embed.
fn canonical_path(select: &[SelectItem], path: &[String]) -> Result<Vec<String>, ApiError> {
    let mut items = select;
    let mut out = Vec::with_capacity(path.len());
    for step in path {
        let embed = named_embed(items, step).ok_or_else(|| ApiError::not_embedded(step))?;
        out.push(embed_key(embed).to_string());
        items = &embed.children;
    }
    Ok(out)
}

/// The query with its embed paths in canonical form (filters first, then order, ranges and
/// logic trees, the order PostgREST checks them in).
fn canonical_paths(select: &[SelectItem], query: &QueryParams) -> Result<QueryParams, ApiError> {
    let mut query = query.clone();
    for filter in &mut query.filters {
        filter.path = canonical_path(select, &filter.path)?;
    }
    for order in &mut query.order {
        order.path = canonical_path(select, &order.path)?;
    }
    let ranges = std::mem::take(&mut query.ranges);
    for (path, range) in ranges {
        query.ranges.insert(canonical_path(select, &path)?, range);
    }
    for logic in &mut query.logic {
        logic.path = canonical_path(select, &logic.path)?;
    }
    Ok(query)
}

fn read_level(
    ctx: &PlanContext<'_>,
    table: &Table,
    source: Source,
    select: &[SelectItem],
    query: &QueryParams,
    path: &[String],
    range: RowRange,
) -> Result<ReadPlan, ApiError> {
    if select.len() > MAX_SELECT_ITEMS {
        return Err(ApiError::select_too_long(select.len(), MAX_SELECT_ITEMS));
    }
    let scope = Scope::new(ctx, table, &source);
    let mut plan = ReadPlan::new(source);
    let mut embed_keys: Vec<String> = Vec::new();
    for item in select {
        match item {
            SelectItem::Field(field) => {
                if field.is_star() {
                    push_star(&mut plan, table);
                    continue;
                }
                if let Some(function) = field.aggregate {
                    let column = if field.field.name == "*" {
                        None
                    } else {
                        Some(scope.resolve(&field.field)?)
                    };
                    let function = match function {
                        AggregateFunction::Count => Aggregate::Count,
                        AggregateFunction::Sum => Aggregate::Sum,
                        AggregateFunction::Avg => Aggregate::Avg,
                        AggregateFunction::Max => Aggregate::Max,
                        AggregateFunction::Min => Aggregate::Min,
                    };
                    let default_alias = function.name();
                    // `col::int.sum()`: the column is cast before it is aggregated
                    let column_cast = if column.is_some() {
                        validated_cast(&field.cast)?
                    } else {
                        None
                    };
                    plan.select.push(SelectExpr::Aggregate {
                        function,
                        column,
                        column_cast,
                        alias: field
                            .alias
                            .clone()
                            .unwrap_or_else(|| default_alias.to_string()),
                        cast: validated_cast(&field.aggregate_cast)?,
                    });
                    continue;
                }
                if field.field.name == "count"
                    && field.field.json_path.is_empty()
                    && scope.resolve(&field.field).is_err()
                {
                    // `select=count`, `rel(count)`: PostgREST 12 reads a `count` that is no
                    // column as Postgres does (`t.count` is `count(t)`), the row count.
                    plan.select.push(SelectExpr::Aggregate {
                        function: Aggregate::Count,
                        column: None,
                        column_cast: None,
                        alias: field.alias.clone().unwrap_or_else(|| "count".to_string()),
                        cast: validated_cast(&field.cast)?,
                    });
                    continue;
                }
                plan.select.push(SelectExpr::Column {
                    column: scope.resolve_output(&field.field)?,
                    alias: field
                        .alias
                        .clone()
                        .unwrap_or_else(|| field.field.output_name()),
                    cast: validated_cast(&field.cast)?,
                });
            }
            SelectItem::Relation(embed) | SelectItem::Spread(embed) => {
                let spread = matches!(item, SelectItem::Spread(_));
                let relationship = find_relationship(ctx, table, embed)?;
                let target = ctx
                    .cache
                    .table(&relationship.target.schema, &relationship.target.name)
                    .ok_or_else(|| {
                        no_relationship(ctx, &table.name, &embed.relation, embed.hint.as_deref())
                    })?;
                let mut child_path = path.to_vec();
                child_path.push(embed_key(embed).to_string());
                let child_range = query
                    .ranges
                    .get(&child_path)
                    .copied()
                    .unwrap_or_default()
                    .cap(ctx.max_rows);
                let (source, join) = join_of(relationship, target, scope.row_cast.clone());
                let children = if embed.children.is_empty() && !spread {
                    Vec::new()
                } else {
                    embed.children.clone()
                };
                let child = read_level(
                    ctx,
                    target,
                    source,
                    &children,
                    query,
                    &child_path,
                    child_range,
                )?;
                let to_one = relationship.is_to_one();
                if spread && !to_one {
                    return Err(ApiError::new(
                        "PGRST119",
                        StatusCode::BAD_REQUEST,
                        format!("A spread operation on '{}' is not possible", embed.relation),
                    )
                    .with_details(
                        "'".to_string()
                            + &table.name
                            + "' and '"
                            + &embed.relation
                            + "' do not form a many-to-one or one-to-one relationship",
                    )
                    .with_hint("Spread only to-one relationships"));
                }
                let index = plan.embeds.len();
                let spread_columns = if spread {
                    spread_columns(target, &child)
                } else {
                    Vec::new()
                };
                plan.embeds.push(Embed {
                    name: embed
                        .alias
                        .clone()
                        .unwrap_or_else(|| embed.relation.clone()),
                    plan: child,
                    join,
                    to_one,
                    inner: embed.join_type == Some(JoinType::Inner),
                });
                embed_keys.push(embed_key(embed).to_string());
                if spread {
                    plan.select.push(SelectExpr::Spread {
                        embed: index,
                        columns: spread_columns,
                    });
                } else if !embed.children.is_empty() {
                    plan.select.push(SelectExpr::Embed { embed: index });
                }
            }
        }
    }
    if select.is_empty() && path.is_empty() {
        push_star(&mut plan, table);
    }
    let items: usize = plan
        .select
        .iter()
        .map(|expr| match expr {
            SelectExpr::Star => table.columns.len().max(1),
            SelectExpr::Spread { columns, .. } => columns.len(),
            _ => 1,
        })
        .sum();
    if items > MAX_SELECT_ITEMS {
        return Err(ApiError::select_too_long(items, MAX_SELECT_ITEMS));
    }

    for filter in query.filters.iter().filter(|f| f.path == path) {
        plan.filter
            .push(filter_condition(&scope, &embed_keys, &filter.filter)?);
    }
    for logic in query.logic.iter().filter(|l| l.path == path) {
        plan.filter
            .push(logic_condition(&scope, &embed_keys, &logic.tree)?);
    }
    for order in query.order.iter().filter(|o| o.path == path) {
        for term in &order.terms {
            plan.order
                .push(order_expr(&scope, &plan, &embed_keys, term)?);
        }
    }
    plan.limit = range.limit;
    plan.offset = range.offset;
    Ok(plan)
}

/// `*`: every column, spelt out when a data representation must apply to some.
fn push_star(plan: &mut ReadPlan, table: &Table) {
    if !star_needs_columns(table) {
        plan.select.push(SelectExpr::Star);
        return;
    }
    for c in &table.columns {
        let mut column = ColumnRef::new(c.name.clone());
        column.output = c.to_json_cast.as_ref().map(function_name);
        plan.select.push(SelectExpr::Column {
            column,
            alias: c.name.clone(),
            cast: None,
        });
    }
}

fn spread_columns(target: &Table, child: &ReadPlan) -> Vec<String> {
    let mut out = Vec::new();
    for expr in &child.select {
        match expr {
            SelectExpr::Star => out.extend(target.columns.iter().map(|c| c.name.clone())),
            SelectExpr::Column { alias, .. } | SelectExpr::Aggregate { alias, .. } => {
                out.push(alias.clone())
            }
            SelectExpr::Embed { embed } => {
                if let Some(e) = child.embeds.get(*embed) {
                    out.push(e.name.clone());
                }
            }
            SelectExpr::Spread { columns, .. } => out.extend(columns.iter().cloned()),
        }
    }
    out
}

fn join_of(
    relationship: &Relationship,
    target: &Table,
    parent_cast: Option<RowType>,
) -> (Source, Join) {
    let table_source = Source::Table {
        schema: target.schema.clone(),
        name: target.name.clone(),
    };
    match &relationship.link {
        Link::ForeignKey { columns, .. } => (table_source, Join::Columns(columns.clone())),
        Link::Junction(junction) => (
            table_source,
            Join::Junction {
                schema: junction.table.schema.clone(),
                table: junction.table.name.clone(),
                parent: junction.source_columns.clone(),
                child: junction.target_columns.clone(),
            },
        ),
        Link::Computed { function, .. } => (
            Source::ComputedOverParent {
                schema: function.schema.clone(),
                function: function.name.clone(),
                parent_cast,
            },
            Join::Computed,
        ),
    }
}

/// The `n`-grams of `value` as PostgREST's fuzzy matcher (`fuzzyset`) counts them: lowercased,
/// only letters, digits, spaces and commas kept, enclosed in `-`.
fn grams(value: &str, n: usize) -> std::collections::HashMap<String, usize> {
    let kept: String = value
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == ',')
        .collect();
    let padded: Vec<char> = format!("-{kept}-").chars().collect();
    let mut out = std::collections::HashMap::new();
    for window in padded.windows(n) {
        *out.entry(window.iter().collect::<String>()).or_insert(0) += 1;
    }
    out
}

/// The name among `candidates` PostgREST 12 suggests for `name` in PGRST200 hints
/// (`fuzzyset` with its defaults): `Exact` when a candidate is `name` itself (case aside);
/// else, by trigrams and failing those bigrams, the candidates sharing one, scored by
/// normalised edit distance and kept from a score of 0.33, the best first.
enum Fuzzy<'a> {
    Exact,
    Near(&'a str),
    Nothing,
}

fn fuzzy_match<'a>(name: &str, candidates: &[&'a str]) -> Fuzzy<'a> {
    let key = name.to_lowercase();
    if candidates.iter().any(|c| c.to_lowercase() == key) {
        return Fuzzy::Exact;
    }
    let norm = |v: &std::collections::HashMap<String, usize>| {
        v.values().map(|c| (c * c) as f64).sum::<f64>().sqrt()
    };
    for n in [3, 2] {
        let query = grams(name, n);
        let query_norm = norm(&query);
        let mut scored: Vec<(f64, &str)> = candidates
            .iter()
            .filter_map(|c| {
                let item = grams(c, n);
                let dot: usize = query
                    .iter()
                    .filter_map(|(g, q)| item.get(g).map(|i| q * i))
                    .sum();
                (dot > 0).then(|| (dot as f64 / (query_norm * norm(&item)), *c))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut rescored: Vec<(f64, &str)> = scored
            .into_iter()
            .take(50)
            .map(|(_, c)| (similarity(&key, &c.to_lowercase()), c))
            .filter(|(score, _)| *score >= 0.33)
            .collect();
        rescored.sort_by(|a, b| b.0.total_cmp(&a.0));
        if let Some((_, best)) = rescored.first() {
            return Fuzzy::Near(best);
        }
    }
    Fuzzy::Nothing
}

/// PGRST200 as PostgREST 12 words it, for an embed of `target` from the relation `origin`.
/// The hint suggests a close name among the targets of `origin`'s relationships (none when
/// `target` is one of them: then the embed hint is what failed), or, when `origin` has no
/// relationships at all, a close name among the relations that have some.
fn no_relationship(
    ctx: &PlanContext<'_>,
    origin: &str,
    target: &str,
    hint: Option<&str>,
) -> ApiError {
    let using = hint.map_or_else(String::new, |h| format!("' using the hint '{h}"));
    let mut error = ApiError::new(
        "PGRST200",
        StatusCode::BAD_REQUEST,
        format!(
            "Could not find a relationship between '{origin}' and '{target}' in the schema cache"
        ),
    )
    .with_details(format!(
        "Searched for a foreign key relationship between '{origin}' and '{target}{using}' in the schema '{}', but no matches were found.",
        ctx.schema
    ));
    let in_schema = |r: &&Relationship| r.target.schema == ctx.schema;
    let own: Vec<&str> = ctx
        .cache
        .relationships_from(ctx.schema, origin)
        .iter()
        .filter(in_schema)
        .map(|r| r.target.name.as_str())
        .collect();
    let suggestion = if own.is_empty() {
        let parents: BTreeSet<&str> = ctx
            .cache
            .relationships()
            .filter(in_schema)
            .filter(|r| r.source.schema == ctx.schema)
            .map(|r| r.source.name.as_str())
            .collect();
        match fuzzy_match(origin, &parents.into_iter().collect::<Vec<_>>()) {
            Fuzzy::Near(near) => Some((near, origin)),
            _ => None,
        }
    } else {
        match fuzzy_match(target, &own) {
            Fuzzy::Near(near) => Some((near, target)),
            _ => None,
        }
    };
    if let Some((near, instead)) = suggestion {
        error = error.with_hint(format!(
            "Perhaps you meant '{near}' instead of '{instead}'."
        ));
    }
    error
}

/// PGRST200 for the first embed of a `select` on a relation the schema cache does not have
/// (a partition, say): PostgREST 12 looks for relationships before anything else.
pub fn embed_from_unknown_relation(
    ctx: &PlanContext<'_>,
    origin: &str,
    select: &[SelectItem],
) -> Option<ApiError> {
    select.iter().find_map(|item| match item {
        SelectItem::Relation(embed) | SelectItem::Spread(embed) => Some(no_relationship(
            ctx,
            origin,
            &embed.relation,
            embed.hint.as_deref(),
        )),
        SelectItem::Field(_) => None,
    })
}

/// The single column of a one-column FK relationship on the source side (`matchFKSingleCol`)
/// and on the target side (`matchFKRefSingleCol`); `None` for composite keys, junctions and
/// computed relationships.
fn single_columns(rel: &Relationship) -> Option<(&str, &str)> {
    match &rel.link {
        Link::ForeignKey { columns, .. } => match columns.as_slice() {
            [(source, target)] => Some((source.as_str(), target.as_str())),
            _ => None,
        },
        _ => None,
    }
}

fn fk_constraint(rel: &Relationship) -> Option<&str> {
    match &rel.link {
        Link::ForeignKey { constraint, .. } => Some(constraint),
        _ => None,
    }
}

/// Whether `rel` is the one `target[!hint]` names, by PostgREST 12's rules (`findRel`):
///
/// - a computed relationship by its function's name;
/// - a self-reference (one FK from a relation to itself gives a to-one and a to-many side):
///   without a hint, the relation's name picks the one-to-many side (`children:t(*)`) and the
///   FK column's name the many-to-one side (`parent_id(*)`); with a hint, only the
///   one-to-many side whose referencing column is the hint (`children:t!parent_id(*)`);
/// - otherwise, without a hint: the target's name, or the FK constraint's name or its single
///   column's name when the target is no view; with a hint: the target's name and, as the
///   hint, the constraint's name, the single column on either side, or the junction's name.
fn relationship_matches(rel: &Relationship, target: &str, hint: Option<&str>) -> bool {
    if let Link::Computed { function, .. } = &rel.link {
        return function.name == target;
    }
    let names_target = rel.target.name == target;
    let cols = single_columns(rel);
    if rel.is_self {
        let o2m = rel.cardinality == Cardinality::OneToMany;
        return match hint {
            None => {
                (names_target && o2m)
                    || (rel.cardinality == Cardinality::ManyToOne
                        && cols.is_some_and(|(source, _)| source == target))
            }
            Some(hint) => names_target && o2m && cols.is_some_and(|(_, fcol)| fcol == hint),
        };
    }
    match hint {
        None => {
            names_target
                || (!rel.target_is_view
                    && (fk_constraint(rel) == Some(target)
                        || cols.is_some_and(|(source, _)| source == target)))
        }
        Some(hint) => {
            names_target
                && (fk_constraint(rel) == Some(hint)
                    || cols.is_some_and(|(source, fcol)| source == hint || fcol == hint)
                    || rel.junction().is_some_and(|j| j.table.name == hint))
        }
    }
}

fn find_relationship<'a>(
    ctx: &'a PlanContext<'_>,
    table: &Table,
    embed: &EmbedSelect,
) -> Result<&'a Relationship, ApiError> {
    let hint = embed.hint.as_deref();
    let candidates: Vec<&Relationship> = ctx
        .cache
        .relationships_from(&table.schema, &table.name)
        .iter()
        // Targets are looked up in the request's schema only.
        .filter(|r| r.target.schema == ctx.schema)
        .filter(|r| relationship_matches(r, &embed.relation, hint))
        .collect();
    match candidates.as_slice() {
        [] => Err(no_relationship(ctx, &table.name, &embed.relation, hint)),
        [one] => Ok(one),
        many => Err(ambiguous(table, &embed.relation, many)),
    }
}

fn describe(rel: &Relationship) -> String {
    let cols = |pairs: &[(String, String)], first: bool| {
        pairs
            .iter()
            .map(|(s, t)| if first { s.clone() } else { t.clone() })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &rel.link {
        Link::ForeignKey {
            constraint,
            columns,
            ..
        } => format!(
            "{} using {}({}) and {}({})",
            constraint,
            rel.source.name,
            cols(columns, true),
            rel.target.name,
            cols(columns, false)
        ),
        Link::Junction(j) => format!(
            "{} using {}({}) and {}({})",
            j.table.name,
            j.source_constraint,
            cols(&j.source_columns, false),
            j.target_constraint,
            cols(&j.target_columns, false)
        ),
        Link::Computed { function, .. } => format!("{function}"),
    }
}

fn ambiguous(table: &Table, target: &str, many: &[&Relationship]) -> ApiError {
    let details: Vec<serde_json::Value> = many
        .iter()
        .map(|r| {
            serde_json::json!({
                "cardinality": match r.cardinality {
                    Cardinality::ManyToOne => "many-to-one",
                    Cardinality::OneToMany => "one-to-many",
                    Cardinality::OneToOne => "one-to-one",
                    Cardinality::ManyToMany => "many-to-many",
                },
                "embedding": format!("{} with {}", table.name, r.target.name),
                "relationship": describe(r),
            })
        })
        .collect();
    let options: Vec<String> = many
        .iter()
        .map(|r| {
            let hint = match &r.link {
                Link::Junction(j) => j.table.name.clone(),
                Link::Computed { function, .. } => function.name.clone(),
                Link::ForeignKey { constraint, .. } => constraint.clone(),
            };
            format!("'{}!{hint}'", r.target.name)
        })
        .collect();
    ApiError::new(
        "PGRST201",
        StatusCode::MULTIPLE_CHOICES,
        format!(
            "Could not embed because more than one relationship was found for '{}' and '{}'",
            table.name, target
        ),
    )
    .with_details_json(serde_json::Value::Array(details))
    .with_hint(format!(
        "Try changing '{}' to one of the following: {}. Find the desired relationship in the 'details' key.",
        target,
        options.join(", ")
    ))
}

fn embed_index(embed_keys: &[String], name: &str) -> Option<usize> {
    embed_keys.iter().position(|k| k == name)
}

fn filter_condition(
    scope: &Scope<'_, '_>,
    embed_keys: &[String],
    filter: &Filter,
) -> Result<Condition, ApiError> {
    let table = scope.table;
    // `rel=is.null` / `rel=not.is.null` on an embedded resource: anti/semi join.
    if filter.field.json_path.is_empty()
        && table.column(&filter.field.name).is_none()
        && let Some(index) = embed_index(embed_keys, &filter.field.name)
    {
        return match &filter.expr.operation {
            Operation::Is(crate::ast::IsValue::Null) => Ok(Condition::EmbedPresent {
                embed: index,
                present: filter.expr.negated,
            }),
            Operation::Is(crate::ast::IsValue::NotNull) => Ok(Condition::EmbedPresent {
                embed: index,
                present: !filter.expr.negated,
            }),
            _ => Err(ApiError::unacceptable_filter(&filter.field.name)),
        };
    }
    let column = scope.resolve_filter(&filter.field)?;
    Ok(op_condition(
        column,
        &filter.expr,
        !scope.is_tsvector(&filter.field),
    ))
}

fn array_literal(values: &[String]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", items.join(","))
}

fn op_condition(column: ColumnRef, expr: &OpExpr, to_tsvector: bool) -> Condition {
    let condition = match &expr.operation {
        Operation::Quant {
            op,
            quantifier,
            value,
        } => Condition::Compare {
            column,
            op: op.sql(),
            operand: match quantifier {
                None => Operand::Value(value.clone()),
                Some(Quantifier::Any) => Operand::Any(value.clone()),
                Some(Quantifier::All) => Operand::All(value.clone()),
            },
        },
        Operation::Simple { op, value } => Condition::Compare {
            column,
            op: op.sql(),
            operand: Operand::Value(value.clone()),
        },
        Operation::In(values) => Condition::Compare {
            column,
            op: "=",
            operand: Operand::Any(array_literal(values)),
        },
        Operation::Is(value) => Condition::Is {
            column,
            what: value.sql(),
        },
        Operation::IsDistinctFrom(value) => Condition::Compare {
            column,
            op: "is distinct from",
            operand: Operand::Value(value.clone()),
        },
        Operation::Fts {
            op,
            language,
            value,
        } => Condition::TextSearch {
            column,
            function: op.function(),
            language: language.clone(),
            value: value.clone(),
            to_tsvector,
        },
    };
    if expr.negated {
        Condition::Not(Box::new(condition))
    } else {
        condition
    }
}

fn logic_condition(
    scope: &Scope<'_, '_>,
    embed_keys: &[String],
    tree: &LogicTree,
) -> Result<Condition, ApiError> {
    match tree {
        LogicTree::Filter(filter) => filter_condition(scope, embed_keys, filter),
        LogicTree::Expr {
            negated,
            op,
            children,
        } => {
            let items = children
                .iter()
                .map(|c| logic_condition(scope, embed_keys, c))
                .collect::<Result<Vec<_>, _>>()?;
            let group = match op {
                LogicOperator::And => Condition::And(items),
                LogicOperator::Or => Condition::Or(items),
            };
            Ok(if *negated {
                Condition::Not(Box::new(group))
            } else {
                group
            })
        }
    }
}

fn order_expr(
    scope: &Scope<'_, '_>,
    plan: &ReadPlan,
    embed_keys: &[String],
    term: &OrderTerm,
) -> Result<OrderExpr, ApiError> {
    let table = scope.table;
    let target = match &term.target {
        OrderTarget::Field(field) => PlanOrderTarget::Column(scope.resolve(field)?),
        OrderTarget::Relation { relation, field } => {
            // By the embed's alias, else its relation; an embed that is not there is PGRST108.
            let index = embed_index(embed_keys, relation)
                .ok_or_else(|| ApiError::not_embedded(relation))?;
            if !plan.embeds.get(index).is_some_and(|e| e.to_one) {
                return Err(ApiError::related_order_not_to_one(&table.name, relation));
            }
            PlanOrderTarget::EmbedColumn {
                embed: index,
                column: field.name.clone(),
            }
        }
    };
    Ok(OrderExpr {
        target,
        descending: term.direction == Some(OrderDirection::Desc),
        nulls: term.nulls.map(|n| match n {
            OrderNulls::First => Nulls::First,
            OrderNulls::Last => Nulls::Last,
        }),
    })
}

/// Checks payload columns against the table (PGRST204).
pub fn check_payload_columns(
    table: &Table,
    columns: &BTreeSet<String>,
) -> Result<Vec<String>, ApiError> {
    columns
        .iter()
        .map(|c| {
            if table.column(c).is_some() {
                Ok(c.clone())
            } else {
                Err(unknown_payload_column(table, c))
            }
        })
        .collect()
}

/// Root-level filters of a PATCH/DELETE/PUT (no embeds at that level).
pub fn root_conditions(
    ctx: &PlanContext<'_>,
    table: &Table,
    query: &QueryParams,
) -> Result<Vec<Condition>, ApiError> {
    let source = Source::Table {
        schema: table.schema.clone(),
        name: table.name.clone(),
    };
    let scope = Scope::new(ctx, table, &source);
    let mut out = Vec::new();
    for filter in query.filters.iter().filter(|f| f.path.is_empty()) {
        out.push(filter_condition(&scope, &[], &filter.filter)?);
    }
    for logic in query.logic.iter().filter(|l| l.path.is_empty()) {
        out.push(logic_condition(&scope, &[], &logic.tree)?);
    }
    Ok(out)
}

/// Root-level order of a PATCH/DELETE with `limit`.
pub fn root_order(
    ctx: &PlanContext<'_>,
    table: &Table,
    query: &QueryParams,
) -> Result<Vec<OrderExpr>, ApiError> {
    let source = Source::Table {
        schema: table.schema.clone(),
        name: table.name.clone(),
    };
    let scope = Scope::new(ctx, table, &source);
    let empty = ReadPlan::new(source);
    let mut out = Vec::new();
    for order in query.order.iter().filter(|o| o.path.is_empty()) {
        for term in &order.terms {
            out.push(order_expr(&scope, &empty, &[], term)?);
        }
    }
    Ok(out)
}

/// An insert (or upsert) plan.
pub fn insert_plan(
    table: &Table,
    columns: Vec<String>,
    body: String,
    on_conflict: Option<OnConflict>,
    groups: Vec<InsertGroup>,
) -> WritePlan {
    WritePlan {
        schema: table.schema.clone(),
        table: table.name.clone(),
        write: Write::Insert {
            columns,
            rows: InsertRows::Payload { groups },
            on_conflict,
        },
        payload: PayloadSource::Json(Some(body)),
        returning: WriteReturning::Rows,
        representations: representations(table),
    }
}

/// The table's columns with a data representation (a `json` → domain cast function).
pub fn representations(table: &Table) -> Vec<Representation> {
    table
        .columns
        .iter()
        .filter_map(|c| {
            c.json_cast.as_ref().map(|f| Representation {
                column: c.name.clone(),
                schema: f.schema.clone(),
                function: f.name.clone(),
            })
        })
        .collect()
}

/// `Prefer: missing=default` with `?columns=`: the body elements grouped by the listed columns
/// they carry, so each group's insert names only those and the rest take their DEFAULT. No
/// groups when every element carries every column.
pub fn missing_default_groups(
    columns: &[String],
    body: &str,
) -> Result<Vec<InsertGroup>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| ApiError::invalid_body("Empty or invalid json"))?;
    let elements = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    for (index, element) in elements.iter().enumerate() {
        let serde_json::Value::Object(object) = element else {
            return Err(ApiError::invalid_body(
                "All elements of the JSON array must be objects",
            ));
        };
        let keys: Vec<String> = columns
            .iter()
            .filter(|c| object.contains_key(c.as_str()))
            .cloned()
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == keys) {
            Some((_, positions)) => positions.push(index + 1),
            None => groups.push((keys, vec![index + 1])),
        }
    }
    if let [(keys, _)] = groups.as_slice()
        && keys.len() == columns.len()
    {
        return Ok(Vec::new());
    }
    Ok(groups
        .into_iter()
        .map(|(columns, positions)| InsertGroup {
            columns,
            positions: format!(
                "{{{}}}",
                positions
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        })
        .collect())
}

/// The columns of `columns` an update body object does not carry (`missing=default`).
pub fn missing_update_columns(columns: &[String], body: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => columns
            .iter()
            .filter(|c| !object.contains_key(c.as_str()))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// How a function is being called, for the wording of PGRST202.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallVia {
    /// Named arguments from the query string, a form or a CSV body.
    Arguments,
    /// A POST with a JSON body: named arguments, or one unnamed json/jsonb parameter.
    Json,
    /// A POST with a raw body for one unnamed parameter of this type (`text`, `xml`, `bytea`).
    Raw(&'static str),
}

/// PGRST202 as PostgREST 12 words it: the arguments (or "without parameters") in the message
/// and details, "or with a single unnamed json/jsonb parameter" for a JSON body, and a hint
/// naming the closest function (unknown name) or the closest overload's parameters.
fn no_function(
    ctx: &PlanContext<'_>,
    name: &str,
    arg_names: &BTreeSet<String>,
    single_object: bool,
    via: CallVia,
    overloads: &[&Function],
) -> ApiError {
    let function = format!("{}.{}", ctx.schema, name);
    let args: Vec<&str> = arg_names.iter().map(String::as_str).collect();
    let listed = args.join(", ");
    let without = args.is_empty();
    let with_args = if without {
        " without parameters".to_string()
    } else if args.len() == 1 {
        format!(" with parameter {listed}")
    } else {
        format!(" with parameters {listed}")
    };
    let (message_args, searched) = match via {
        _ if single_object => (
            String::new(),
            " with a single json/jsonb parameter".to_string(),
        ),
        CallVia::Raw(ty) => (
            String::new(),
            format!(" with a single unnamed {ty} parameter"),
        ),
        CallVia::Json => (
            String::new(),
            format!("{with_args} or with a single unnamed json/jsonb parameter"),
        ),
        CallVia::Arguments => (String::new(), with_args),
    };
    let only_single = single_object || matches!(via, CallVia::Raw(_));
    let message_args = match via {
        _ if only_single => message_args,
        _ if without => " without parameters".to_string(),
        _ => format!("({listed})"),
    };
    let mut error = ApiError::new(
        "PGRST202",
        StatusCode::NOT_FOUND,
        format!("Could not find the function {function}{message_args} in the schema cache"),
    )
    .with_details(format!(
        "Searched for the function {function}{searched}, but no matches were found in the schema cache."
    ));
    if only_single {
        return error;
    }
    let hint = if overloads.is_empty() {
        let names = ctx
            .cache
            .functions()
            .filter(|f| f.schema == ctx.schema && callable(f))
            .map(|f| f.name.as_str());
        closest(name, names).map(|near| format!("{}.{near}", ctx.schema))
    } else {
        let lists: Vec<String> = overloads
            .iter()
            .map(|f| {
                let mut names: Vec<&str> = f
                    .input_args()
                    .map(|a| a.name.as_deref().unwrap_or(""))
                    .filter(|n| !n.is_empty())
                    .collect();
                names.sort_unstable();
                format!("({})", names.join(", "))
            })
            .collect();
        // The overload whose parameter list is most alike, if at least a third alike.
        let listed = format!("({listed})");
        lists
            .iter()
            .map(|params| (similarity(&listed, params), params))
            .filter(|(alike, _)| *alike >= 1.0 / 3.0)
            .max_by(|(a, _), (b, _)| a.total_cmp(b))
            .map(|(_, params)| format!("{function}{params}"))
    };
    if let Some(hint) = hint {
        error = error.with_hint(format!("Perhaps you meant to call the function {hint}"));
    }
    error
}

/// Whether PostgREST 12 can call `function` at all (its schema cache leaves the others out):
/// no unnamed input parameter, or one of type json, jsonb, text, xml or bytea.
fn callable(function: &Function) -> bool {
    let unnamed: Vec<_> = function
        .input_args()
        .filter(|a| a.name.as_deref().unwrap_or("").is_empty())
        .collect();
    match unnamed.as_slice() {
        [] => true,
        [arg] => WholeBodyType::from_type_name(&arg.type_name).is_some(),
        _ => false,
    }
}

/// Whether `function` takes these arguments by name (PostgREST 12 `matchesParams`): with
/// `Prefer: params=single-object` any function of one json/jsonb parameter; a function without
/// parameters when no arguments are given (and the body is no raw text/xml/bytea); else every
/// required parameter given and every argument a parameter.
fn takes_arguments(
    function: &Function,
    arg_names: &BTreeSet<String>,
    single_object: bool,
    via: CallVia,
) -> bool {
    let inputs: Vec<_> = function.input_args().collect();
    if single_object {
        return matches!(inputs.as_slice(), [arg] if arg.type_name == "json" || arg.type_name == "jsonb");
    }
    if inputs.is_empty() {
        return arg_names.is_empty() && !matches!(via, CallVia::Raw(_));
    }
    let name_of = |a: &&pgbase_catalog::FunctionArg| a.name.clone().unwrap_or_default();
    let required: BTreeSet<String> = inputs
        .iter()
        .filter(|a| !a.has_default)
        .map(name_of)
        .collect();
    let optional: BTreeSet<String> = inputs
        .iter()
        .filter(|a| a.has_default)
        .map(name_of)
        .collect();
    required.iter().all(|r| arg_names.contains(r))
        && arg_names
            .iter()
            .all(|k| required.contains(k) || optional.contains(k))
}

/// The type of the single unnamed parameter of `function` when a POST body of this kind goes
/// to it whole (PostgREST 12 `hasSingleUnnamedParam`): json/jsonb for JSON, text for
/// `text/plain`, xml for `text/xml`, bytea for `application/octet-stream`.
pub fn whole_body_parameter(function: &Function, via: CallVia) -> Option<WholeBodyType> {
    let inputs: Vec<_> = function.input_args().collect();
    let [arg] = inputs.as_slice() else {
        return None;
    };
    if !arg.name.as_deref().unwrap_or("").is_empty() {
        return None;
    }
    let arg_type = WholeBodyType::from_type_name(&arg.type_name)?;
    let fits = match via {
        CallVia::Json => matches!(arg_type, WholeBodyType::Json | WholeBodyType::Jsonb),
        CallVia::Raw(content) => arg_type.sql() == content,
        CallVia::Arguments => false,
    };
    fits.then_some(arg_type)
}

/// The function to call, chosen among the overloads as PostgREST 12 does (`findProc`): the one
/// taking these arguments by name; failing any, the one whose single unnamed parameter takes
/// the body whole; PGRST202 when none fits, PGRST203 when several do.
pub fn find_function<'a>(
    ctx: &PlanContext<'a>,
    name: &str,
    arg_names: &BTreeSet<String>,
    single_object: bool,
    via: CallVia,
) -> Result<&'a Function, ApiError> {
    // PostgREST 12 does not know functions with an unnamed parameter it could not pass: more
    // than one unnamed, or one of a type other than json, jsonb, text, xml or bytea.
    let overloads: Vec<&'a Function> = ctx
        .cache
        .function_overloads(ctx.schema, name)
        .iter()
        .filter(|f| callable(f))
        .collect();
    let by_name: Vec<&'a Function> = overloads
        .iter()
        .copied()
        .filter(|f| takes_arguments(f, arg_names, single_object, via))
        .collect();
    let whole_body: Vec<&'a Function> = overloads
        .iter()
        .copied()
        .filter(|f| !takes_arguments(f, arg_names, single_object, via))
        .filter(|f| whole_body_parameter(f, via).is_some())
        .collect();
    let matching = if by_name.is_empty() {
        whole_body
    } else {
        by_name
    };
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(no_function(ctx, name, arg_names, single_object, via, &overloads)),
        _ => Err(ApiError::new(
            "PGRST203",
            StatusCode::MULTIPLE_CHOICES,
            format!(
                "Could not choose the best candidate function between: {}",
                matching
                    .iter()
                    .map(|f| format!(
                        "{}.{}({})",
                        f.schema,
                        f.name,
                        f.input_args()
                            .map(|a| format!("{} => {}", a.name.as_deref().unwrap_or(""), a.type_name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_hint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")),
    }
}

/// A call plan: named arguments as text parameters (JSON values that are not strings are
/// passed as their JSON text, arrays as Postgres array literals for array parameters).
pub fn call_plan(function: &Function, args: CallArgs) -> CallPlan {
    CallPlan {
        schema: function.schema.clone(),
        function: function.name.clone(),
        args,
        scalar: matches!(
            function.return_shape(),
            ReturnShape::Scalar | ReturnShape::Void | ReturnShape::Pseudo | ReturnShape::Record
        ),
        variadic: function
            .input_args()
            .find(|a| a.mode == pgbase_catalog::ArgMode::Variadic)
            .and_then(|a| a.name.clone()),
    }
}

/// Turns a JSON value into the text Postgres parses for a parameter of `type_name`.
/// [`json_arg_text`] of a raw JSON value: `null` is NULL, a string its text, an array for an
/// array parameter a Postgres array literal, anything else its JSON text as sent (numbers keep
/// every digit, objects are not re-serialised).
pub fn raw_json_arg_text(raw: &serde_json::value::RawValue, type_name: &str) -> Option<String> {
    let text = raw.get().trim();
    // A json/jsonb parameter takes the value as JSON: a JSON string stays a string.
    if matches!(type_name, "json" | "jsonb") {
        return (text != "null").then(|| text.to_string());
    }
    if text.starts_with('"') || (text.starts_with('[') && type_name.ends_with("[]")) {
        return match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => json_arg_text(&value, type_name),
            Err(_) => Some(text.to_string()),
        };
    }
    if text == "null" {
        return None;
    }
    Some(text.to_string())
}

pub fn json_arg_text(value: &serde_json::Value, type_name: &str) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) if type_name.ends_with("[]") => {
            let texts: Vec<String> = items
                .iter()
                .map(|i| match json_arg_text(i, "") {
                    None => "NULL".to_string(),
                    Some(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
                })
                .collect();
            Some(format!("{{{}}}", texts.join(",")))
        }
        other => Some(other.to_string()),
    }
}

/// A table-shaped description of a function's `OUT`/`TABLE` columns, so its rows can be
/// selected, filtered and ordered like a relation's.
pub fn output_table(function: &Function) -> Result<Table, ApiError> {
    let columns: Vec<serde_json::Value> = function
        .output_args()
        .enumerate()
        .filter_map(|(i, a)| {
            let name = a.name.clone()?;
            Some(serde_json::json!({
                "name": name, "ordinal": i + 1, "data_type": a.type_name,
                "nominal_type": a.type_name, "type_oid": a.type_oid, "base_type_oid": a.type_oid,
                "element_type_oid": null, "nullable": true, "default": null,
                "generation_expression": null, "comment": null, "max_length": null,
            }))
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "oid": 0, "schema": function.schema, "name": function.name, "kind": "c",
        "owner": function.owner, "comment": null, "insertable": false, "updatable": false,
        "deletable": false, "rls_enabled": false, "rls_forced": false, "columns": columns,
    }))
    .map_err(|e| ApiError::not_implemented(format!("function result columns: {e}")))
}
