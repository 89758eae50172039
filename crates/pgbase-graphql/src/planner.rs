//! GraphQL → plan: each top-level field becomes a [`GraphStatement`] of the plan tree shared
//! with REST (`pgbase_sql::plan`), which `pgbase_sql::emit_graph` turns into one statement.
//! Filters, `nodeId` lookups and keyset cursors become [`Condition`]s, `orderBy` becomes
//! [`OrderExpr`]s (primary key appended), relationships become joined sources, and selections
//! become JSON objects of [`Output`]s in selection order. No I/O and no SQL text here: client
//! values stay strings that the emitter binds as parameters.

use std::cell::Cell;

use graphql_parser::query::SelectionSet;
use pgbase_sql::plan::{
    AggregateField, AggregateValue, ColumnRef, ComputedField, Condition, ConflictAction,
    Connection, ConnectionField, EdgeField, Format, GraphStatement, InsertRows, InsertValue, Join,
    MutationField, MutationPlan, Nulls, Object, OnConflict, Operand, OrderExpr, OrderTarget,
    Output, PageInfoField, PayloadSource, ReadPlan, RowObject, RowType, SetValue, Source, ToOne,
    Write, WritePlan, WriteReturning,
};
use serde_json::{Map, Value};

use crate::base64;
use crate::engine::Options;
use crate::error::{GraphqlError, with_suggestion};
use crate::input::{array_literal, sql_text};
use crate::select::{Ctx, Sel, check_leaf};
use crate::types::{AggOp, ColumnInfo, Field, FuncReturn, Resolve, Scalar, TableInfo, TypeDef};

type Result<T> = std::result::Result<T, GraphqlError>;

/// The plan of one top-level field.
pub struct Statement {
    pub plan: GraphStatement,
    /// `Some(max)` for update/delete: more affected rows abort the request.
    pub at_most: Option<(i64, &'static str)>,
}

/// Plans the fields of one operation.
pub struct Planner<'c, 'q> {
    ctx: &'c Ctx<'q>,
    options: Options,
    /// Set when a computed field was planned over rows that need a cast to the table's row
    /// type (the records of a mutation): the write must then return whole rows.
    whole_row: Cell<bool>,
}

fn table_source(table: &TableInfo) -> Source {
    Source::Table {
        schema: table.schema.clone(),
        name: table.name.clone(),
    }
}

fn compare(column: ColumnRef, op: &'static str, value: String) -> Condition {
    Condition::Compare {
        column,
        op,
        operand: Operand::Value(value),
    }
}

fn is(column: ColumnRef, what: &'static str) -> Condition {
    Condition::Is { column, what }
}

/// A condition no row meets.
fn never() -> Condition {
    Condition::Or(Vec::new())
}

/// How pg_graphql writes a value of `scalar` (BigInt/BigFloat as text, JSON as a string, and
/// arrays of them element by element).
fn scalar_format(scalar: &Scalar, list: bool) -> Format {
    match (scalar, list) {
        (Scalar::BigInt | Scalar::BigFloat, false) => Format::Text,
        // arrays of json/jsonb: each document as its text, as pg_graphql writes them
        (Scalar::BigInt | Scalar::BigFloat | Scalar::Json, true) => Format::TextArray,
        (Scalar::Json, false) => Format::JsonText,
        _ => Format::Plain,
    }
}

fn order_column(o: &OrderExpr) -> Option<&ColumnRef> {
    match &o.target {
        OrderTarget::Column(c) => Some(c),
        OrderTarget::EmbedColumn { .. } => None,
    }
}

/// Decodes a `nodeId` to `[schema, table, pk...]`.
pub fn decode_node_id(id: &str) -> Result<(String, String, Vec<Value>)> {
    // pg_graphql's numbering: 2 base64, 3 UTF-8, 4 JSON, 10 not an array, 5 too short,
    // 6 / 7 schema / table not a string
    let err = |n: u8| {
        GraphqlError::new(format!(
            "Invalid value passed to nodeId argument. Error {n}"
        ))
    };
    let bytes = base64::decode(id).ok_or_else(|| err(2))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| err(3))?;
    let value: Value = serde_json::from_str(text).map_err(|_| err(4))?;
    let Value::Array(mut items) = value else {
        return Err(err(10));
    };
    if items.len() < 3 {
        return Err(err(5));
    }
    let rest = items.split_off(2);
    match (&items[0], &items[1]) {
        (Value::String(s), Value::String(t)) => Ok((s.clone(), t.clone(), rest)),
        (Value::String(_), _) => Err(err(7)),
        _ => Err(err(6)),
    }
}

impl<'c, 'q> Planner<'c, 'q> {
    pub fn new(ctx: &'c Ctx<'q>, options: Options) -> Self {
        Planner {
            ctx,
            options,
            whole_row: Cell::new(false),
        }
    }

    fn table(&self, t: usize) -> &'c TableInfo {
        &self.ctx.schema.tables[t]
    }

    fn type_def(&self, name: &str) -> Result<&'c TypeDef> {
        self.ctx
            .schema
            .ty(name)
            .ok_or_else(|| GraphqlError::new(format!("Unknown type {name}")))
    }

    /// The fields selected on `ty`: `__typename` becomes `literal(type name)`, every other
    /// field what `each` makes of it (`None`: left out).
    fn fields<T>(
        &self,
        ty: &'c TypeDef,
        sets: &[&'q SelectionSet<'q, &'q str>],
        literal: fn(String) -> T,
        mut each: impl FnMut(&Sel<'q>, &'c Field) -> Result<Option<T>>,
    ) -> Result<Object<T>> {
        let _level = self.ctx.descend()?;
        let mut out = Vec::new();
        for s in self.ctx.collect(ty, sets)? {
            if s.name == "__typename" {
                out.push((s.key.to_string(), literal(ty.name.clone())));
                continue;
            }
            let Some(field) = ty.field(s.name) else {
                continue;
            };
            if let Some(value) = each(&s, field)? {
                out.push((s.key.to_string(), value));
            }
        }
        Ok(out)
    }

    /// The plan of a top-level field of `Query` or `Mutation`. An update or delete without
    /// a filter is refused when [`Options::safe_update`] is set.
    pub fn top_level(&self, root: &TypeDef, sel: &Sel<'q>) -> Result<Statement> {
        let unknown = || {
            GraphqlError::new(format!(
                "Unknown field \"{}\" on type {}",
                sel.name, root.name
            ))
        };
        let Some(field) = root.field(sel.name) else {
            return Err(unknown());
        };
        let args = self.ctx.args(field, sel)?;
        let mut at_most = None;
        let plan = match field.resolve {
            Resolve::Collection(t) => {
                check_leaf(sel, false)?;
                let source = table_source(self.table(t));
                GraphStatement::Connection(Box::new(self.connection(t, &args, sel, source, None)?))
            }
            Resolve::ByPk(t) => {
                check_leaf(sel, false)?;
                let table = self.table(t);
                let values: Vec<Value> = table
                    .pk
                    .iter()
                    .map(|&i| {
                        args.get(&table.columns[i].field)
                            .cloned()
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                GraphStatement::Row(self.row_by_pk(t, &values, sel)?)
            }
            Resolve::Node => {
                check_leaf(sel, false)?;
                let id = args
                    .get("nodeId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let (schema, name, pk) = decode_node_id(id)?;
                let Some(t) = self
                    .ctx
                    .schema
                    .tables
                    .iter()
                    .position(|t| t.schema == schema && t.name == name)
                else {
                    return Err(GraphqlError::new(
                        "Invalid value passed to nodeId argument. Error 7",
                    ));
                };
                if pk.len() != self.table(t).pk.len() {
                    return Err(GraphqlError::new(
                        "Invalid value passed to nodeId argument. Error 10",
                    ));
                }
                GraphStatement::Row(self.row_by_pk(t, &pk, sel)?)
            }
            Resolve::Insert(t) => {
                check_leaf(sel, false)?;
                GraphStatement::Mutation(self.insert(t, &args, sel)?)
            }
            Resolve::Function(fi) => self.function(fi, &args, sel)?,
            Resolve::Update(t) | Resolve::Delete(t) => {
                check_leaf(sel, false)?;
                let update = matches!(field.resolve, Resolve::Update(_));
                let max = args.get("atMost").and_then(Value::as_i64).unwrap_or(1);
                let what = if update {
                    "update impacts too many records"
                } else {
                    "delete impacts too many records"
                };
                at_most = Some((max, what));
                GraphStatement::Mutation(self.update_or_delete(t, &args, sel, update)?)
            }
            _ => return Err(unknown()),
        };
        Ok(Statement { plan, at_most })
    }

    /// The row of table `t` with primary key `values`.
    fn row_by_pk(&self, t: usize, values: &[Value], sel: &Sel<'q>) -> Result<RowObject> {
        let table = self.table(t);
        // pg_graphql words an unknown field of a `…ByPk` row as on `Query`
        let ty = self.type_def(&table.type_name)?;
        for s in self.ctx.gather(ty, &sel.sets)? {
            if s.name != "__typename" && ty.field(s.name).is_none() {
                return Err(GraphqlError::at(
                    with_suggestion(
                        crate::select::unknown_field_by_pk(ty, s.name),
                        s.name,
                        ty.fields.iter().map(|f| f.name.as_str()),
                    ),
                    s.pos,
                ));
            }
        }
        let object = self.node_object(t, sel, None)?;
        let mut filter = Vec::new();
        let mut missing = Vec::new();
        for (&i, v) in table.pk.iter().zip(values) {
            match sql_text(v) {
                Some(text) => {
                    filter.push(compare(ColumnRef::new(&table.columns[i].sql), "=", text))
                }
                None => missing.push(table.columns[i].sql.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(GraphqlError::new(format!(
                "Missing primary key column(s): {}",
                missing.join(", ")
            )));
        }
        Ok(RowObject {
            source: table_source(table),
            join: None,
            filter,
            object,
            skip_null_row: false,
        })
    }

    /// A column's output (enum labels renamed by `mappings`).
    fn column_output(&self, c: &ColumnInfo) -> Output {
        let mut format = scalar_format(&c.scalar, c.list);
        if let (Scalar::Enum(name), false) = (&c.scalar, c.list)
            && let Some(ty) = self.ctx.schema.ty(name)
            && ty.enum_values.iter().any(|v| v.name != v.value)
        {
            format = Format::Labels(
                ty.enum_values
                    .iter()
                    .map(|v| (v.value.clone(), v.name.clone()))
                    .collect(),
            );
        }
        Output::Column {
            column: ColumnRef::new(&c.sql),
            format,
        }
    }

    /// The object of a row of table `t` for the selection of `sel`; `row_cast` is set when
    /// the rows are anonymous records (a mutation's returned rows).
    fn node_object(
        &self,
        t: usize,
        sel: &Sel<'q>,
        row_cast: Option<&RowType>,
    ) -> Result<Object<Output>> {
        let table = self.table(t);
        let ty = self.type_def(&table.type_name)?;
        self.fields(ty, &sel.sets, Output::Literal, |s, field| {
            Ok(Some(match field.resolve {
                Resolve::NodeId => {
                    check_leaf(s, true)?;
                    Output::NodeId {
                        schema: table.schema.clone(),
                        table: table.name.clone(),
                        pk: table
                            .pk
                            .iter()
                            .map(|&i| table.columns[i].sql.clone())
                            .collect(),
                    }
                }
                Resolve::Column(ci) => {
                    check_leaf(s, true)?;
                    self.column_output(&table.columns[ci])
                }
                Resolve::Computed(fi) => {
                    let args = self.ctx.args(field, s)?;
                    self.computed(fi, &args, s, row_cast)?
                }
                Resolve::Relation(ri) => {
                    check_leaf(s, false)?;
                    let rel = &table.relations[ri];
                    let target = self.table(rel.target);
                    let join = Some(Join::Columns(rel.pairs.clone()));
                    if rel.to_many {
                        let args = self.ctx.args(field, s)?;
                        Output::Connection(Box::new(self.connection(
                            rel.target,
                            &args,
                            s,
                            table_source(target),
                            join,
                        )?))
                    } else {
                        Output::Row(Box::new(RowObject {
                            source: table_source(target),
                            join,
                            filter: Vec::new(),
                            object: self.node_object(rel.target, s, None)?,
                            skip_null_row: false,
                        }))
                    }
                }
                _ => return Ok(None),
            }))
        })
    }

    /// A computed field: a function of the row.
    fn computed(
        &self,
        fi: usize,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
        row_cast: Option<&RowType>,
    ) -> Result<Output> {
        let func = &self.ctx.schema.functions[fi];
        if row_cast.is_some() {
            self.whole_row.set(true);
        }
        let over_row = Source::ComputedOverParent {
            schema: func.schema.clone(),
            function: func.name.clone(),
            parent_cast: row_cast.cloned(),
        };
        Ok(match &func.ret {
            FuncReturn::Scalar(scalar, list) => {
                check_leaf(sel, true)?;
                Output::Column {
                    column: ColumnRef::computed(ComputedField {
                        schema: func.schema.clone(),
                        function: func.name.clone(),
                        row_cast: row_cast.cloned(),
                    }),
                    format: scalar_format(scalar, *list),
                }
            }
            FuncReturn::Row(t) => {
                check_leaf(sel, false)?;
                Output::Row(Box::new(RowObject {
                    source: over_row,
                    join: Some(Join::Computed),
                    filter: Vec::new(),
                    object: self.node_object(*t, sel, None)?,
                    skip_null_row: true,
                }))
            }
            FuncReturn::Rows(t) => {
                check_leaf(sel, false)?;
                Output::Connection(Box::new(self.connection(
                    *t,
                    args,
                    sel,
                    over_row,
                    Some(Join::Computed),
                )?))
            }
        })
    }

    /// A function as a Query/Mutation field.
    fn function(
        &self,
        fi: usize,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
    ) -> Result<GraphStatement> {
        let func = &self.ctx.schema.functions[fi];
        let call_args: Vec<(String, Option<String>)> = func
            .args
            .iter()
            .filter_map(|a| {
                let v = args.get(&a.field)?;
                Some((a.sql.clone(), self.scalar_text(&a.scalar, v)))
            })
            .collect();
        let source = Source::Function {
            schema: func.schema.clone(),
            function: func.name.clone(),
            args: call_args.clone(),
        };
        Ok(match &func.ret {
            FuncReturn::Scalar(scalar, list) => {
                check_leaf(sel, true)?;
                GraphStatement::Call {
                    schema: func.schema.clone(),
                    function: func.name.clone(),
                    args: call_args,
                    format: scalar_format(scalar, *list),
                }
            }
            FuncReturn::Row(t) => {
                check_leaf(sel, false)?;
                GraphStatement::Row(RowObject {
                    source,
                    join: None,
                    filter: Vec::new(),
                    object: self.node_object(*t, sel, None)?,
                    skip_null_row: true,
                })
            }
            FuncReturn::Rows(t) => {
                check_leaf(sel, false)?;
                GraphStatement::Connection(Box::new(self.connection(*t, args, sel, source, None)?))
            }
        })
    }

    /// The order: `orderBy` then the primary key (ascending, nulls last).
    fn order(&self, t: usize, args: &Map<String, Value>) -> Result<Vec<OrderExpr>> {
        let table = self.table(t);
        let mut order: Vec<OrderExpr> = Vec::new();
        let push = |order: &mut Vec<OrderExpr>, column: ColumnRef, descending, nulls| {
            let target = OrderTarget::Column(column);
            if !order.iter().any(|o| o.target == target) {
                order.push(OrderExpr {
                    target,
                    descending,
                    nulls: Some(nulls),
                });
            }
        };
        if let Some(Value::Array(items)) = args.get("orderBy") {
            for item in items {
                let Value::Object(obj) = item else { continue };
                let mut entries: Vec<(ColumnRef, &str)> = Vec::new();
                for (field, dir) in obj {
                    if let Some((_, c)) = table.column_by_field(field) {
                        if let Some(dir) = dir.as_str() {
                            entries.push((ColumnRef::new(&c.sql), dir));
                        }
                    } else if let Some(rel) = table
                        .relations
                        .iter()
                        .find(|r| &r.field == field && !r.to_many)
                    {
                        // order by a to-one relation's columns (beyond pg_graphql, its #361)
                        let target = self.table(rel.target);
                        for (tf, dir) in dir.as_object().into_iter().flatten() {
                            if let (Some((_, tc)), Some(dir)) =
                                (target.column_by_field(tf), dir.as_str())
                            {
                                let mut column = ColumnRef::new(&tc.sql);
                                column.via = Some(Box::new(ToOne {
                                    schema: target.schema.clone(),
                                    table: target.name.clone(),
                                    pairs: rel.pairs.clone(),
                                }));
                                entries.push((column, dir));
                            }
                        }
                    } else {
                        return Err(GraphqlError::new(format!("Invalid order column {field}")));
                    }
                }
                for (column, dir) in entries {
                    let (descending, nulls) = match dir {
                        "AscNullsFirst" => (false, Nulls::First),
                        "AscNullsLast" => (false, Nulls::Last),
                        "DescNullsFirst" => (true, Nulls::First),
                        "DescNullsLast" => (true, Nulls::Last),
                        other => {
                            return Err(GraphqlError::new(format!(
                                "Invalid order operation {other}"
                            )));
                        }
                    };
                    push(&mut order, column, descending, nulls);
                }
            }
        }
        // the primary key always follows, even when `orderBy` names it already: pg_graphql
        // appends it so, and its cursors carry a value for every term
        for &ci in &table.pk {
            order.push(OrderExpr {
                target: OrderTarget::Column(ColumnRef::new(&table.columns[ci].sql)),
                descending: false,
                nulls: Some(Nulls::Last),
            });
        }
        Ok(order)
    }

    /// Rows strictly after the cursor `values` in `order`. Every part is a non-null boolean,
    /// so the page info can negate it.
    fn keyset(order: &[OrderExpr], values: &[Value]) -> Condition {
        let mut alternatives = Vec::new();
        for (i, term) in order.iter().enumerate() {
            let mut conds = Vec::new();
            for (earlier, value) in order.iter().zip(values).take(i) {
                let Some(c) = order_column(earlier) else {
                    continue;
                };
                match sql_text(value) {
                    None => conds.push(is(c.clone(), "null")),
                    Some(v) => {
                        conds.push(is(c.clone(), "not null"));
                        conds.push(compare(c.clone(), "=", v));
                    }
                }
            }
            let Some(c) = order_column(term) else {
                continue;
            };
            let op = if term.descending { "<" } else { ">" };
            let nulls_first = term.nulls == Some(Nulls::First);
            conds.push(match (values.get(i).and_then(sql_text), nulls_first) {
                // nulls last: nothing sorts after null; nulls first: every non-null does
                (None, false) => never(),
                (None, true) => is(c.clone(), "not null"),
                (Some(v), false) => {
                    Condition::Or(vec![compare(c.clone(), op, v), is(c.clone(), "null")])
                }
                (Some(v), true) => {
                    Condition::And(vec![is(c.clone(), "not null"), compare(c.clone(), op, v)])
                }
            });
            alternatives.push(Condition::And(conds));
        }
        Condition::Or(alternatives)
    }

    fn decode_cursor(cursor: &str, terms: usize) -> Result<Vec<Value>> {
        let bytes = base64::decode(cursor)
            .ok_or_else(|| GraphqlError::new("Failed to decode cursor, error 1"))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| GraphqlError::new("Failed to decode cursor, error 2"))?;
        let Value::Array(values) = value else {
            return Err(GraphqlError::new("Failed to decode cursor, error 3"));
        };
        // a cursor may be shorter than the order (pg_graphql compares the terms it carries,
        // rows equal on all of them excluded), not longer
        if values.len() > terms {
            return Err(GraphqlError::new(
                "orderBy clause incompatible with pagination cursor",
            ));
        }
        Ok(values)
    }

    /// A connection over the rows of table `t` read from `source`, tied to the enclosing row
    /// by `join`.
    fn connection(
        &self,
        t: usize,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
        source: Source,
        join: Option<Join>,
    ) -> Result<Connection> {
        let table = self.table(t);
        let unsigned = |name: &str| -> Result<Option<u64>> {
            match args.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    GraphqlError::new(format!("`{name}` must be an unsigned integer"))
                }),
            }
        };
        let first = unsigned("first")?;
        let last = unsigned("last")?;
        let offset = unsigned("offset")?;
        let cursor = |name: &str| args.get(name).and_then(Value::as_str);
        let (after, before) = (cursor("after"), cursor("before"));
        if first.is_some() && last.is_some() {
            return Err(GraphqlError::new(
                "only one of \"first\" and \"last\" may be provided",
            ));
        }
        if after.is_some() && before.is_some() {
            return Err(GraphqlError::new(
                "only one of \"before\" and \"after\" may be provided",
            ));
        }
        if first.is_some() && before.is_some() {
            return Err(GraphqlError::new(
                "\"first\" may only be used with \"after\"",
            ));
        }
        if last.is_some() && after.is_some() {
            return Err(GraphqlError::new(
                "\"last\" may only be used with \"before\"",
            ));
        }
        let backward = last.is_some() || before.is_some();
        if offset.is_some() && backward {
            return Err(GraphqlError::new(
                "\"offset\" may only be used with \"first\" and \"after\"",
            ));
        }
        let limit = first.or(last).unwrap_or(table.max_rows).min(table.max_rows);

        let mut order = self.order(t, args)?;
        if backward {
            for o in &mut order {
                o.descending = !o.descending;
                o.nulls = match o.nulls {
                    Some(Nulls::First) => Some(Nulls::Last),
                    Some(Nulls::Last) => Some(Nulls::First),
                    None => None,
                };
            }
        }
        let mut filter = Vec::new();
        if let Some(f) = args.get("filter")
            && let Some(cond) = self.filter(t, f)?
        {
            filter.push(cond);
        }
        let keyset = match (after, before) {
            (Some(c), _) | (_, Some(c)) => {
                let values = Self::decode_cursor(c, order.len())?;
                Some(Self::keyset(&order[..values.len()], &values))
            }
            _ => None,
        };

        let ty = self.type_def(&table.connection_type())?;
        let edge_ty = self.type_def(&format!("{}Edge", table.type_name))?;
        let fields = self.fields(ty, &sel.sets, ConnectionField::Literal, |s, field| {
            Ok(Some(match field.resolve {
                Resolve::Edges => {
                    check_leaf(s, false)?;
                    ConnectionField::Edges(self.fields(
                        edge_ty,
                        &s.sets,
                        EdgeField::Literal,
                        |es, f| {
                            Ok(match f.resolve {
                                Resolve::Cursor => {
                                    check_leaf(es, true)?;
                                    Some(EdgeField::Cursor)
                                }
                                Resolve::EdgeNode => {
                                    check_leaf(es, false)?;
                                    Some(EdgeField::Node(self.node_object(t, es, None)?))
                                }
                                _ => None,
                            })
                        },
                    )?)
                }
                Resolve::PageInfo => {
                    check_leaf(s, false)?;
                    let pi_ty = self.type_def("PageInfo")?;
                    ConnectionField::PageInfo(self.fields(
                        pi_ty,
                        &s.sets,
                        PageInfoField::Literal,
                        |ps, f| {
                            check_leaf(ps, true)?;
                            Ok(match f.resolve {
                                Resolve::HasNextPage => Some(PageInfoField::HasNextPage),
                                Resolve::HasPreviousPage => Some(PageInfoField::HasPreviousPage),
                                Resolve::StartCursor => Some(PageInfoField::StartCursor),
                                Resolve::EndCursor => Some(PageInfoField::EndCursor),
                                _ => None,
                            })
                        },
                    )?)
                }
                Resolve::Aggregate => {
                    check_leaf(s, false)?;
                    ConnectionField::Aggregate(self.aggregate(t, s)?)
                }
                Resolve::TotalCount => {
                    check_leaf(s, true)?;
                    ConnectionField::TotalCount
                }
                _ => return Ok(None),
            }))
        })?;
        Ok(Connection {
            source,
            join,
            filter,
            order,
            keyset,
            limit,
            offset: offset.unwrap_or(0),
            backward,
            fields,
        })
    }

    /// `aggregate { count sum {..} avg {..} min {..} max {..} }`.
    fn aggregate(&self, t: usize, sel: &Sel<'q>) -> Result<Object<AggregateField>> {
        let table = self.table(t);
        let ty = self.type_def(&format!("{}Aggregate", table.type_name))?;
        self.fields(ty, &sel.sets, AggregateField::Literal, |s, field| {
            Ok(match field.resolve {
                Resolve::AggregateCount => {
                    check_leaf(s, true)?;
                    Some(AggregateField::Count)
                }
                Resolve::AggregateGroup(op) => {
                    check_leaf(s, false)?;
                    let group_name = format!("{}{}AggregateResult", table.type_name, op.title());
                    let group = self.type_def(&group_name)?;
                    let values = self.fields(group, &s.sets, AggregateValue::Literal, |g, f| {
                        check_leaf(g, true)?;
                        let Resolve::Column(ci) = f.resolve else {
                            return Ok(None);
                        };
                        let c = &table.columns[ci];
                        let function = match (op, &c.scalar) {
                            (AggOp::Sum, _) => pgbase_sql::plan::Aggregate::Sum,
                            (AggOp::Avg, _) => pgbase_sql::plan::Aggregate::Avg,
                            (AggOp::Min, Scalar::Boolean) => pgbase_sql::plan::Aggregate::BoolAnd,
                            (AggOp::Max, Scalar::Boolean) => pgbase_sql::plan::Aggregate::BoolOr,
                            (AggOp::Min, _) => pgbase_sql::plan::Aggregate::Min,
                            (AggOp::Max, _) => pgbase_sql::plan::Aggregate::Max,
                        };
                        Ok(Some(AggregateValue::Apply {
                            function,
                            column: ColumnRef::new(&c.sql),
                            // pg_graphql writes aggregates as JSON numbers, even where
                            // the type is BigInt/BigFloat
                            as_text: false,
                        }))
                    })?;
                    Some(AggregateField::Group(values))
                }
                _ => None,
            })
        })
    }

    /// The text Postgres should parse for a value of column `c` (enum names mapped to their
    /// SQL labels).
    fn value_text(&self, c: &ColumnInfo, v: &Value) -> Option<String> {
        self.scalar_text(&c.scalar, v)
    }

    /// The text Postgres should parse for a value of `scalar` (enum names mapped).
    fn scalar_text(&self, scalar: &Scalar, v: &Value) -> Option<String> {
        if let Scalar::Enum(name) = scalar {
            let ty = self.ctx.schema.ty(name)?;
            let map = |x: &Value| -> Value {
                x.as_str()
                    .and_then(|s| ty.enum_value(s))
                    .map(|e| Value::String(e.value.clone()))
                    .unwrap_or_else(|| x.clone())
            };
            return match v {
                Value::Array(items) => {
                    Some(array_literal(&items.iter().map(map).collect::<Vec<_>>()))
                }
                other => sql_text(&map(other)),
            };
        }
        sql_text(v)
    }

    /// A filter object as a condition on rows of table `t`; `None` when it filters nothing.
    pub fn filter(&self, t: usize, filter: &Value) -> Result<Option<Condition>> {
        let table = self.table(t);
        let Value::Object(entries) = filter else {
            return Ok(None);
        };
        let filter_ty = self.type_def(&format!("{}Filter", table.type_name))?;
        let mut conds = Vec::new();
        for (key, value) in entries {
            if value.is_null() {
                continue;
            }
            let is_column = table.column_by_field(key).filter(|(_, c)| c.filterable());
            match (key.as_str(), is_column) {
                ("and" | "or", None) if filter_ty.input_field(key).is_some() => {
                    let items = match value {
                        Value::Array(items) => items.clone(),
                        other => vec![other.clone()],
                    };
                    let mut subs = Vec::new();
                    let mut always = false;
                    for item in &items {
                        match self.filter(t, item)? {
                            Some(c) => subs.push(c),
                            None => always = true,
                        }
                    }
                    if key == "and" {
                        if !subs.is_empty() {
                            conds.push(Condition::And(subs));
                        }
                    } else if !items.is_empty() && !always {
                        conds.push(Condition::Or(subs));
                    }
                }
                ("not", None) if filter_ty.input_field(key).is_some() => {
                    if let Some(c) = self.filter(t, value)? {
                        conds.push(Condition::Not(Box::new(c)));
                    }
                }
                ("nodeId", None) => {
                    if let Some(id) = value.get("eq").and_then(Value::as_str) {
                        let (schema, name, pk) = decode_node_id(id)?;
                        if schema != table.schema || name != table.name {
                            return Err(GraphqlError::new(
                                "nodeId belongs to a different collection",
                            ));
                        }
                        if pk.len() != table.pk.len() {
                            return Err(GraphqlError::new(
                                "Invalid value passed to nodeId argument. Error 10",
                            ));
                        }
                        for (&ci, v) in table.pk.iter().zip(&pk) {
                            let column = ColumnRef::new(&table.columns[ci].sql);
                            conds.push(match sql_text(v) {
                                Some(text) => compare(column, "=", text),
                                None => never(),
                            });
                        }
                    }
                }
                (_, Some((_, c))) => {
                    let Value::Object(ops) = value else { continue };
                    for (op, v) in ops {
                        // pg_graphql compares with a null operand in SQL, which matches no
                        // row (`{lt: null}`, `{in: null}`); `is` has no null to compare
                        if v.is_null() {
                            if op == "is" {
                                return Err(GraphqlError::new(
                                    "Error transpiling Is filter value type",
                                ));
                            }
                            conds.push(never());
                            continue;
                        }
                        check_length(c, v)?;
                        let column = ColumnRef::new(&c.sql);
                        let sym: &'static str = match op.as_str() {
                            "eq" => "=",
                            "neq" => "<>",
                            "lt" => "<",
                            "lte" => "<=",
                            "gt" => ">",
                            "gte" => ">=",
                            "like" => "like",
                            "ilike" => "ilike",
                            "regex" => "~",
                            "iregex" => "~*",
                            "startsWith" => "^@",
                            "contains" => "@>",
                            "containedBy" => "<@",
                            "overlaps" => "&&",
                            "in" => {
                                let items = match v {
                                    Value::Array(items) => items.clone(),
                                    other => vec![other.clone()],
                                };
                                let text = self
                                    .value_text(c, &Value::Array(items))
                                    .unwrap_or_else(|| "{}".into());
                                conds.push(Condition::Compare {
                                    column,
                                    op: "=",
                                    operand: Operand::Any(text),
                                });
                                continue;
                            }
                            "is" => {
                                conds.push(match v.as_str() {
                                    Some("NULL") => is(column, "null"),
                                    _ => is(column, "not null"),
                                });
                                continue;
                            }
                            other => {
                                return Err(GraphqlError::new(format!(
                                    "Unknown filter operation {other}"
                                )));
                            }
                        };
                        conds.push(match self.value_text(c, v) {
                            Some(text) => compare(column, sym, text),
                            None => never(),
                        });
                    }
                }
                (_, None) if table.relations.iter().any(|r| &r.field == key) => {
                    // filter by a related table (beyond pg_graphql, its #88): some related
                    // row matches
                    let Some(rel) = table.relations.iter().find(|r| &r.field == key) else {
                        continue;
                    };
                    let mut related = ReadPlan::new(table_source(self.table(rel.target)));
                    related.filter.extend(self.filter(rel.target, value)?);
                    conds.push(Condition::Exists {
                        plan: Box::new(related),
                        join: Join::Columns(rel.pairs.clone()),
                    });
                }
                _ => {
                    return Err(GraphqlError::new(format!(
                        "Input for type {} contains extra keys [\"{key}\"]",
                        filter_ty.name
                    )));
                }
            }
        }
        Ok(match conds.len() {
            0 => None,
            1 => conds.pop(),
            _ => Some(Condition::And(conds)),
        })
    }

    /// The response object of a mutation on table `t` (`kind`: Insert, Update, Delete) and
    /// the rows its write must return.
    fn mutation_fields(
        &self,
        t: usize,
        sel: &Sel<'q>,
        kind: &str,
    ) -> Result<(Object<MutationField>, WriteReturning)> {
        let table = self.table(t);
        let response = self.type_def(&format!("{}{kind}Response", table.type_name))?;
        let row_type = RowType {
            schema: table.schema.clone(),
            name: table.name.clone(),
        };
        self.whole_row.set(false);
        let fields = self.fields(response, &sel.sets, MutationField::Literal, |s, field| {
            Ok(match field.resolve {
                Resolve::AffectedCount => {
                    check_leaf(s, true)?;
                    Some(MutationField::AffectedCount)
                }
                Resolve::Records => {
                    check_leaf(s, false)?;
                    Some(MutationField::Records(self.node_object(
                        t,
                        s,
                        Some(&row_type),
                    )?))
                }
                _ => None,
            })
        })?;
        let returning = if self.whole_row.get() {
            WriteReturning::Rows
        } else {
            WriteReturning::Columns(table.columns.iter().map(|c| c.sql.clone()).collect())
        };
        Ok((fields, returning))
    }

    fn insert(&self, t: usize, args: &Map<String, Value>, sel: &Sel<'q>) -> Result<MutationPlan> {
        let table = self.table(t);
        let rows = match args.get("objects") {
            Some(Value::Array(rows)) => rows.clone(),
            _ => Vec::new(),
        };
        if rows.is_empty() {
            return Err(GraphqlError::new(
                "At least one record must be provided to objects",
            ));
        }
        let used: Vec<&ColumnInfo> = table
            .columns
            .iter()
            .filter(|c| c.insertable && rows.iter().any(|r| r.get(&c.field).is_some()))
            .collect();
        let on_conflict = match args.get("onConflict") {
            Some(Value::Object(oc)) => Some(self.on_conflict(t, oc)?),
            _ => None,
        };
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut items = Vec::with_capacity(used.len());
            for c in &used {
                items.push(match row.get(&c.field) {
                    None => InsertValue::Default,
                    Some(v) => {
                        check_length(c, v)?;
                        InsertValue::Value(self.value_text(c, v))
                    }
                });
            }
            values.push(items);
        }
        let (fields, returning) = self.mutation_fields(t, sel, "Insert")?;
        Ok(MutationPlan {
            write: WritePlan {
                schema: table.schema.clone(),
                table: table.name.clone(),
                write: Write::Insert {
                    columns: used.iter().map(|c| c.sql.clone()).collect(),
                    rows: InsertRows::Values(if used.is_empty() {
                        vec![Vec::new(); rows.len()]
                    } else {
                        values
                    }),
                    on_conflict,
                },
                payload: PayloadSource::Params,
                returning,
                representations: Vec::new(),
            },
            fields,
        })
    }

    /// `onConflict: {constraint, updateFields, filter}`.
    fn on_conflict(&self, t: usize, oc: &Map<String, Value>) -> Result<OnConflict> {
        let table = self.table(t);
        let name = oc
            .get("constraint")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((_, columns)) = table.unique_keys.iter().find(|(n, _)| n == name) else {
            return Err(GraphqlError::new(format!("Unknown constraint {name}")));
        };
        let update: Vec<String> = oc
            .get("updateFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .filter_map(|f| table.column_by_field(f).map(|(_, c)| c))
            .filter(|c| c.updatable)
            .map(|c| c.sql.clone())
            .collect();
        let mut filter = Vec::new();
        if !update.is_empty()
            && let Some(f) = oc.get("filter")
        {
            filter.extend(self.filter(t, f)?);
        }
        Ok(OnConflict {
            columns: columns.clone(),
            action: if update.is_empty() {
                ConflictAction::DoNothing
            } else {
                ConflictAction::Update {
                    columns: update,
                    filter,
                }
            },
        })
    }

    fn update_or_delete(
        &self,
        t: usize,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
        update: bool,
    ) -> Result<MutationPlan> {
        let table = self.table(t);
        let mut filter = Vec::new();
        if let Some(f) = args.get("filter") {
            filter.extend(self.filter(t, f)?);
        }
        // a filter that plans to no condition at all (`{}`, `{id: null}`, `{and: []}`)
        // selects every row, like none
        let filtered = !filter.is_empty();
        let kind = if update {
            let set = match args.get("set") {
                Some(Value::Object(set)) if !set.is_empty() => set,
                _ => {
                    return Err(GraphqlError::new(
                        "At least one mapping must be provided to set argument",
                    ));
                }
            };
            let mut assignments = Vec::new();
            for (field, v) in set {
                let Some((_, c)) = table.column_by_field(field).filter(|(_, c)| c.updatable) else {
                    continue;
                };
                check_length(c, v)?;
                assignments.push((c.sql.clone(), SetValue::Value(self.value_text(c, v))));
            }
            if assignments.is_empty() {
                return Err(GraphqlError::new(
                    "At least one mapping must be provided to set argument",
                ));
            }
            Write::Update {
                set: assignments,
                filter,
                order: Vec::new(),
                limit: None,
                offset: 0,
            }
        } else {
            Write::Delete {
                filter,
                order: Vec::new(),
                limit: None,
                offset: 0,
            }
        };
        if self.options.safe_update && !filtered {
            let verb = if update { "update" } else { "delete" };
            return Err(GraphqlError::new(format!(
                "{name} requires a filter: without one (or with an empty one) it would {verb} \
                 every record. Add a filter argument that selects the records to {verb} \
                 (atMost still limits how many may change)",
                name = sel.name
            )));
        }
        let (fields, returning) =
            self.mutation_fields(t, sel, if update { "Update" } else { "Delete" })?;
        Ok(MutationPlan {
            write: WritePlan {
                schema: table.schema.clone(),
                table: table.name.clone(),
                write: kind,
                payload: PayloadSource::Params,
                returning,
                representations: Vec::new(),
            },
            fields,
        })
    }
}

/// pg_graphql refuses a string longer than a `varchar(n)`/`char(n)` column takes, in a
/// filter, an insert or an update (its type_modifier_max_length suite); strings in a list
/// (`in`) too. Characters are counted, as Postgres counts them.
fn check_length(c: &ColumnInfo, v: &Value) -> Result<()> {
    let Some(max) = c.max_length.and_then(|m| usize::try_from(m).ok()) else {
        return Ok(());
    };
    let too_long = |v: &Value| v.as_str().is_some_and(|s| s.chars().count() > max);
    let over = match v {
        Value::Array(items) => items.iter().any(too_long),
        other => too_long(other),
    };
    if over {
        return Err(GraphqlError::new(format!(
            "Invalid input for {} type. Maximum character length {max}",
            c.scalar.type_name()
        )));
    }
    Ok(())
}
