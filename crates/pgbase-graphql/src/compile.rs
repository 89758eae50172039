//! GraphQL → SQL: each top-level field becomes one statement whose single row holds the
//! field's JSON (built by Postgres with `jsonb_build_object`) and, for update/delete, the
//! number of affected rows (checked against `atMost`). Connections are a CTE over the
//! filtered, keyset/offset-paged rows with `row_number()`, relationships are correlated
//! subqueries, `nodeId` and cursors are base64 of the jsonb text Postgres prints.
//! Values only enter as bind parameters, names only through identifier quoting.

use std::cell::Cell;

use pgbase_sql::Snippet;
use serde_json::{Map, Value};

use crate::base64;
use crate::error::GraphqlError;
use crate::input::{array_literal, sql_text};
use crate::select::{Ctx, Sel, check_leaf};
use crate::types::{AggOp, ColumnInfo, FuncReturn, Resolve, Scalar, TableInfo, TypeDef};

type Result<T> = std::result::Result<T, GraphqlError>;

/// The statement for one top-level field.
pub struct Statement {
    /// `select <json text>, <affected count>`.
    pub sql: Snippet,
    /// `Some(max)` for update/delete: more affected rows abort the request.
    pub at_most: Option<(i64, &'static str)>,
}

/// What an ORDER BY term sorts on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TermKey {
    /// A column of the table (index into its columns).
    Col(usize),
    /// A column of a to-one related row: relation index, column index in the target.
    Related(usize, usize),
}

/// One ORDER BY term: key, ascending, nulls first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Term {
    key: TermKey,
    asc: bool,
    nulls_first: bool,
}

impl Term {
    fn reversed(self) -> Term {
        Term {
            key: self.key,
            asc: !self.asc,
            nulls_first: !self.nulls_first,
        }
    }
}

/// Compiles fields of one operation.
pub struct Compiler<'c, 'q> {
    ctx: &'c Ctx<'q>,
    next: Cell<usize>,
}

fn text_param(s: &str) -> Snippet {
    Snippet::param(s).then(Snippet::sql("::text"))
}

fn col(alias: &str, name: &str) -> Snippet {
    Snippet::ident(alias)
        .then(Snippet::sql("."))
        .then(Snippet::ident(name))
}

/// `jsonb_build_object(k, v, ...)`, chunked under Postgres' 100-argument limit.
fn build_object(pairs: Vec<(Snippet, Snippet)>) -> Snippet {
    if pairs.is_empty() {
        return Snippet::sql("'{}'::jsonb");
    }
    let chunks: Vec<Snippet> = pairs
        .chunks(40)
        .map(|chunk| {
            let inner = Snippet::join(
                chunk
                    .iter()
                    .map(|(k, v)| k.clone().then(Snippet::sql(", ")).then(v.clone())),
                ", ",
            );
            Snippet::sql("jsonb_build_object(")
                .then(inner)
                .then(Snippet::sql(")"))
        })
        .collect();
    Snippet::sql("(")
        .then(Snippet::join(chunks, " || "))
        .then(Snippet::sql(")"))
}

/// base64 of the jsonb text of `jsonb_build_array(items)`, newlines removed.
fn encoded_array(items: Vec<Snippet>) -> Snippet {
    Snippet::sql("translate(encode(convert_to(jsonb_build_array(")
        .then(Snippet::join(items, ", "))
        .then(Snippet::sql(")::text, 'utf-8'), 'base64'), E'\\n', '')"))
}

fn and_all(conds: Vec<Snippet>) -> Snippet {
    if conds.is_empty() {
        return Snippet::sql("true");
    }
    Snippet::sql("(")
        .then(Snippet::join(conds, " and "))
        .then(Snippet::sql(")"))
}

/// Decodes a `nodeId` to `[schema, table, pk...]`.
pub fn decode_node_id(id: &str) -> Result<(String, String, Vec<Value>)> {
    let bytes = base64::decode(id)
        .ok_or_else(|| GraphqlError::new("Invalid value passed to nodeId argument. Error 2"))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| GraphqlError::new("Invalid value passed to nodeId argument. Error 3"))?;
    let Value::Array(mut items) = value else {
        return Err(GraphqlError::new(
            "Invalid value passed to nodeId argument. Error 4",
        ));
    };
    if items.len() < 3 {
        return Err(GraphqlError::new(
            "Invalid value passed to nodeId argument. Error 5",
        ));
    }
    let rest = items.split_off(2);
    match (&items[0], &items[1]) {
        (Value::String(s), Value::String(t)) => Ok((s.clone(), t.clone(), rest)),
        _ => Err(GraphqlError::new(
            "Invalid value passed to nodeId argument. Error 6",
        )),
    }
}

impl<'c, 'q> Compiler<'c, 'q> {
    pub fn new(ctx: &'c Ctx<'q>) -> Self {
        Compiler {
            ctx,
            next: Cell::new(0),
        }
    }

    fn alias(&self, prefix: &str) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("{prefix}{n}")
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

    /// The statement for a top-level field of `Query` or `Mutation`.
    pub fn top_level(&self, root: &TypeDef, sel: &Sel<'q>) -> Result<Statement> {
        let Some(field) = root.field(sel.name) else {
            return Err(GraphqlError::new(format!(
                "Unknown field \"{}\" on type {}",
                sel.name, root.name
            )));
        };
        let args = self.ctx.args(field, sel)?;
        let mut at_most = None;
        let expr = match field.resolve {
            Resolve::Collection(t) => {
                check_leaf(sel, false)?;
                Snippet::sql("select ")
                    .then(self.connection(t, &args, sel, None, None)?)
                    .then(Snippet::sql("::text, null::bigint"))
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
                self.row_by_pk(t, &values, sel)?
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
                self.row_by_pk(t, &pk, sel)?
            }
            Resolve::Insert(t) => {
                check_leaf(sel, false)?;
                self.insert(t, &args, sel)?
            }
            Resolve::Function(fi) => {
                let call = self.call(fi, &args, None);
                Snippet::sql("select ")
                    .then(self.function_value(fi, call, &args, sel)?)
                    .then(Snippet::sql("::text, null::bigint"))
            }
            Resolve::Update(t) | Resolve::Delete(t) => {
                check_leaf(sel, false)?;
                let max = args.get("atMost").and_then(Value::as_i64).unwrap_or(1);
                let what = if matches!(field.resolve, Resolve::Update(_)) {
                    "update impacts too many records"
                } else {
                    "delete impacts too many records"
                };
                at_most = Some((max, what));
                self.update_or_delete(t, &args, sel, matches!(field.resolve, Resolve::Update(_)))?
            }
            _ => {
                return Err(GraphqlError::new(format!(
                    "Unknown field \"{}\" on type {}",
                    sel.name, root.name
                )));
            }
        };
        Ok(Statement { sql: expr, at_most })
    }

    /// `select (<object of the row with this key>)::text, null::bigint`.
    fn row_by_pk(&self, t: usize, values: &[Value], sel: &Sel<'q>) -> Result<Snippet> {
        let table = self.table(t);
        let a = self.alias("a");
        let obj = self.node_object(t, &a, sel)?;
        let mut conds = Vec::new();
        for (&i, v) in table.pk.iter().zip(values) {
            let Some(text) = sql_text(v) else {
                return Err(GraphqlError::new(format!(
                    "Missing primary key column(s): {}",
                    table.columns[i].sql
                )));
            };
            conds.push(
                col(&a, &table.columns[i].sql)
                    .then(Snippet::sql(" = "))
                    .then(Snippet::param(text)),
            );
        }
        Ok(Snippet::sql("select (select ")
            .then(obj)
            .then(Snippet::sql(" from "))
            .then(Snippet::qualified(&table.schema, &table.name))
            .then(Snippet::sql(" "))
            .then(Snippet::ident(&a))
            .then(Snippet::sql(" where "))
            .then(and_all(conds))
            .then(Snippet::sql(")::text, null::bigint")))
    }

    /// The value expression of one column (BigInt/BigFloat as text, JSON stringified).
    fn column_value(&self, alias: &str, c: &ColumnInfo) -> Snippet {
        let value = col(alias, &c.sql);
        if let (Scalar::Enum(name), false) = (&c.scalar, c.list)
            && let Some(ty) = self.ctx.schema.ty(name)
            && ty.enum_values.iter().any(|v| v.name != v.value)
        {
            // `mappings`: SQL labels out as GraphQL names
            let mut case = Snippet::sql("(case ").then(value.then(Snippet::sql("::text")));
            for v in &ty.enum_values {
                case.push_sql(" when ")
                    .push_param(v.value.clone())
                    .push_sql(" then ")
                    .push(text_param(&v.name));
            }
            return case.then(Snippet::sql(" end)"));
        }
        Self::format_value(value, &c.scalar, c.list)
    }

    /// A value formatted as pg_graphql returns it (BigInt/BigFloat as text, JSON as a string).
    fn format_value(base: Snippet, scalar: &Scalar, list: bool) -> Snippet {
        match (scalar, list) {
            (Scalar::BigInt | Scalar::BigFloat, false) => base.then(Snippet::sql("::text")),
            (Scalar::BigInt | Scalar::BigFloat, true) => base.then(Snippet::sql("::text[]")),
            (Scalar::Json, false) => Snippet::sql("(")
                .then(base)
                .then(Snippet::sql(" #>> '{}')")),
            _ => base,
        }
    }

    fn node_id(&self, t: usize, alias: &str) -> Snippet {
        let table = self.table(t);
        let mut items = vec![text_param(&table.schema), text_param(&table.name)];
        items.extend(table.pk.iter().map(|&i| col(alias, &table.columns[i].sql)));
        encoded_array(items)
    }

    /// The jsonb object of the row `alias` of table `t` for the selection of `sel`.
    fn node_object(&self, t: usize, alias: &str, sel: &Sel<'q>) -> Result<Snippet> {
        let table = self.table(t);
        let ty = self.type_def(&table.type_name)?;
        let sels = self.ctx.collect(ty, &sel.sets)?;
        let mut pairs = Vec::new();
        for s in &sels {
            let key = text_param(s.key);
            if s.name == "__typename" {
                pairs.push((key, text_param(&table.type_name)));
                continue;
            }
            let Some(field) = ty.field(s.name) else {
                continue;
            };
            let value = match field.resolve {
                Resolve::NodeId => {
                    check_leaf(s, true)?;
                    self.node_id(t, alias)
                }
                Resolve::Column(ci) => {
                    check_leaf(s, true)?;
                    self.column_value(alias, &table.columns[ci])
                }
                Resolve::Computed(fi) => {
                    let args = self.ctx.args(field, s)?;
                    let call = self.call(fi, &args, Some(alias));
                    self.function_value(fi, call, &args, s)?
                }
                Resolve::Relation(ri) => {
                    check_leaf(s, false)?;
                    let rel = &table.relations[ri];
                    let args = self.ctx.args(field, s)?;
                    if rel.to_many {
                        self.connection(rel.target, &args, s, Some((alias, &rel.pairs)), None)?
                    } else {
                        let target = self.table(rel.target);
                        let b = self.alias("a");
                        let obj = self.node_object(rel.target, &b, s)?;
                        let conds = rel
                            .pairs
                            .iter()
                            .map(|(local, foreign)| {
                                col(&b, foreign)
                                    .then(Snippet::sql(" = "))
                                    .then(col(alias, local))
                            })
                            .collect();
                        Snippet::sql("(select ")
                            .then(obj)
                            .then(Snippet::sql(" from "))
                            .then(Snippet::qualified(&target.schema, &target.name))
                            .then(Snippet::sql(" "))
                            .then(Snippet::ident(&b))
                            .then(Snippet::sql(" where "))
                            .then(and_all(conds))
                            .then(Snippet::sql(" limit 1)"))
                    }
                }
                _ => continue,
            };
            pairs.push((key, value));
        }
        Ok(build_object(pairs))
    }

    /// `"schema"."function"(named => $args...)`, or `(row)` for a computed field.
    fn call(&self, fi: usize, args: &Map<String, Value>, row: Option<&str>) -> Snippet {
        let func = &self.ctx.schema.functions[fi];
        let inner = match row {
            Some(alias) => Snippet::ident(alias),
            None => Snippet::join(
                func.args.iter().filter_map(|a| {
                    let v = args.get(&a.field)?;
                    let value = match self.scalar_text(&a.scalar, v) {
                        Some(text) => Snippet::param(text),
                        None => Snippet::null_param(),
                    };
                    Some(
                        Snippet::ident(&a.sql)
                            .then(Snippet::sql(" => "))
                            .then(value),
                    )
                }),
                ", ",
            ),
        };
        Snippet::qualified(&func.schema, &func.name)
            .then(Snippet::sql("("))
            .then(inner)
            .then(Snippet::sql(")"))
    }

    /// The jsonb value of a function call for the selection `sel`.
    fn function_value(
        &self,
        fi: usize,
        call: Snippet,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
    ) -> Result<Snippet> {
        let func = &self.ctx.schema.functions[fi];
        Ok(match &func.ret {
            FuncReturn::Scalar(scalar, list) => {
                check_leaf(sel, true)?;
                Snippet::sql("to_jsonb(")
                    .then(Self::format_value(call, scalar, *list))
                    .then(Snippet::sql(")"))
            }
            FuncReturn::Row(t) => {
                check_leaf(sel, false)?;
                let b = self.alias("a");
                let obj = self.node_object(*t, &b, sel)?;
                Snippet::sql("(select ")
                    .then(obj)
                    .then(Snippet::sql(" from "))
                    .then(call)
                    .then(Snippet::sql(" "))
                    .then(Snippet::ident(&b))
                    .then(Snippet::sql(" where not ("))
                    .then(Snippet::ident(&b))
                    .then(Snippet::sql(" is null) limit 1)"))
            }
            FuncReturn::Rows(t) => {
                check_leaf(sel, false)?;
                self.connection(*t, args, sel, None, Some(call))?
            }
        })
    }

    /// The SQL expression a term sorts on, for the row `alias` of table `t`.
    fn term_expr(&self, t: usize, alias: &str, key: TermKey) -> Snippet {
        let table = self.table(t);
        match key {
            TermKey::Col(ci) => col(alias, &table.columns[ci].sql),
            TermKey::Related(ri, ci) => {
                let rel = &table.relations[ri];
                let target = self.table(rel.target);
                let b = self.alias("o");
                let conds = rel
                    .pairs
                    .iter()
                    .map(|(local, foreign)| {
                        col(&b, foreign)
                            .then(Snippet::sql(" = "))
                            .then(col(alias, local))
                    })
                    .collect();
                Snippet::sql("(select ")
                    .then(col(&b, &target.columns[ci].sql))
                    .then(Snippet::sql(" from "))
                    .then(Snippet::qualified(&target.schema, &target.name))
                    .then(Snippet::sql(" "))
                    .then(Snippet::ident(&b))
                    .then(Snippet::sql(" where "))
                    .then(and_all(conds))
                    .then(Snippet::sql(" limit 1)"))
            }
        }
    }

    /// The ORDER BY terms: `orderBy` then the primary key (ascending, nulls last).
    fn order_terms(&self, t: usize, args: &Map<String, Value>) -> Result<Vec<Term>> {
        let table = self.table(t);
        let mut terms: Vec<Term> = Vec::new();
        if let Some(Value::Array(items)) = args.get("orderBy") {
            for item in items {
                let Value::Object(obj) = item else { continue };
                let mut entries: Vec<(TermKey, &str)> = Vec::new();
                for (field, dir) in obj {
                    if let Some((ci, _)) = table.column_by_field(field) {
                        if let Some(dir) = dir.as_str() {
                            entries.push((TermKey::Col(ci), dir));
                        }
                    } else if let Some(ri) = table
                        .relations
                        .iter()
                        .position(|r| &r.field == field && !r.to_many)
                    {
                        // order by a to-one relation's columns (beyond pg_graphql, its #361)
                        let target = self.table(table.relations[ri].target);
                        for (tf, dir) in dir.as_object().into_iter().flatten() {
                            if let (Some((tci, _)), Some(dir)) =
                                (target.column_by_field(tf), dir.as_str())
                            {
                                entries.push((TermKey::Related(ri, tci), dir));
                            }
                        }
                    } else {
                        return Err(GraphqlError::new(format!("Invalid order column {field}")));
                    }
                }
                for (key, dir) in entries {
                    let (asc, nulls_first) = match dir {
                        "AscNullsFirst" => (true, true),
                        "AscNullsLast" => (true, false),
                        "DescNullsFirst" => (false, true),
                        "DescNullsLast" => (false, false),
                        other => {
                            return Err(GraphqlError::new(format!(
                                "Invalid order operation {other}"
                            )));
                        }
                    };
                    if !terms.iter().any(|x| x.key == key) {
                        terms.push(Term {
                            key,
                            asc,
                            nulls_first,
                        });
                    }
                }
            }
        }
        for &ci in &table.pk {
            if !terms.iter().any(|x| x.key == TermKey::Col(ci)) {
                terms.push(Term {
                    key: TermKey::Col(ci),
                    asc: true,
                    nulls_first: false,
                });
            }
        }
        Ok(terms)
    }

    fn order_clause(&self, t: usize, alias: &str, terms: &[Term]) -> Snippet {
        Snippet::join(
            terms.iter().map(|x| {
                self.term_expr(t, alias, x.key)
                    .then(Snippet::sql(if x.asc { " asc" } else { " desc" }))
                    .then(Snippet::sql(if x.nulls_first {
                        " nulls first"
                    } else {
                        " nulls last"
                    }))
            }),
            ", ",
        )
    }

    /// Rows strictly after the cursor `values` in the order `terms`.
    fn after(&self, t: usize, alias: &str, terms: &[Term], values: &[Value]) -> Snippet {
        let mut alternatives = Vec::new();
        for i in 0..terms.len() {
            let mut conds = Vec::new();
            for j in 0..i {
                let c = self.term_expr(t, alias, terms[j].key);
                conds.push(match sql_text(&values[j]) {
                    None => c.then(Snippet::sql(" is null")),
                    Some(v) => c.then(Snippet::sql(" = ")).then(Snippet::param(v)),
                });
            }
            let term = terms[i];
            let c = self.term_expr(t, alias, term.key);
            let op = if term.asc { " > " } else { " < " };
            let strictly = match (sql_text(&values[i]), term.nulls_first) {
                // nulls last: nothing sorts after null; nulls first: every non-null does
                (None, false) => Snippet::sql("false"),
                (None, true) => c.then(Snippet::sql(" is not null")),
                (Some(v), false) => Snippet::sql("(")
                    .then(c.clone())
                    .then(Snippet::sql(op))
                    .then(Snippet::param(v))
                    .then(Snippet::sql(" or "))
                    .then(c)
                    .then(Snippet::sql(" is null)")),
                (Some(v), true) => Snippet::sql("coalesce(")
                    .then(c)
                    .then(Snippet::sql(op))
                    .then(Snippet::param(v))
                    .then(Snippet::sql(", false)")),
            };
            conds.push(strictly);
            alternatives.push(and_all(conds));
        }
        Snippet::sql("(")
            .then(Snippet::join(alternatives, " or "))
            .then(Snippet::sql(")"))
    }

    fn decode_cursor(&self, cursor: &str, terms: &[Term]) -> Result<Vec<Value>> {
        let bytes = base64::decode(cursor)
            .ok_or_else(|| GraphqlError::new("Failed to decode cursor, error 1"))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| GraphqlError::new("Failed to decode cursor, error 2"))?;
        let Value::Array(values) = value else {
            return Err(GraphqlError::new("Failed to decode cursor, error 3"));
        };
        if values.len() != terms.len() {
            return Err(GraphqlError::new(
                "orderBy clause incompatible with pagination cursor",
            ));
        }
        Ok(values)
    }

    /// A connection over table `t` as a jsonb expression; `join` correlates it with a
    /// parent row (`(parent alias, [(parent column, child column)])`).
    fn connection(
        &self,
        t: usize,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
        join: Option<(&str, &[(String, String)])>,
        source: Option<Snippet>,
    ) -> Result<Snippet> {
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
        let page = first.or(last).unwrap_or(table.max_rows).min(table.max_rows) as i64;
        let skip = offset.unwrap_or(0) as i64;

        let a = self.alias("a");
        let r = self.alias("r");
        let terms = self.order_terms(t, args)?;
        let query_terms: Vec<Term> = if backward {
            terms.iter().map(|x| x.reversed()).collect()
        } else {
            terms.clone()
        };

        // where: join + filter
        let mut base_conds = Vec::new();
        if let Some((parent, pairs)) = join {
            for (local, foreign) in pairs {
                base_conds.push(
                    col(&a, foreign)
                        .then(Snippet::sql(" = "))
                        .then(col(parent, local)),
                );
            }
        }
        if let Some(f) = args.get("filter")
            && let Some(cond) = self.filter(t, &a, f)?
        {
            base_conds.push(cond);
        }
        let base_where = and_all(base_conds);
        let from = Snippet::sql(" from ")
            .then(source.unwrap_or_else(|| Snippet::qualified(&table.schema, &table.name)))
            .then(Snippet::sql(" "))
            .then(Snippet::ident(&a));
        let cursor_values = match (after, before) {
            (Some(c), _) | (_, Some(c)) => Some(self.decode_cursor(c, &terms)?),
            _ => None,
        };
        let page_cond = match &cursor_values {
            Some(v) => self.after(t, &a, &query_terms, v),
            None => Snippet::sql("true"),
        };

        // what the connection selects
        let ty = self.type_def(&table.connection_type())?;
        let sels = self.ctx.collect(ty, &sel.sets)?;
        let mut row_columns: Vec<Snippet> = Vec::new();
        let mut pairs = Vec::new();
        let mut need_cursor = false;
        let cursor_expr =
            encoded_array(terms.iter().map(|x| self.term_expr(t, &a, x.key)).collect());
        let in_page = |rr: &str| {
            col(rr, "__i")
                .then(Snippet::sql(" <= "))
                .then(Snippet::int(skip + page))
        };
        let from_r = |rr: &str| Snippet::sql(" from ").then(Snippet::ident(rr));
        let edge_ty = self.type_def(&format!("{}Edge", table.type_name))?;
        for s in &sels {
            let key = text_param(s.key);
            if s.name == "__typename" {
                pairs.push((key, text_param(&ty.name)));
                continue;
            }
            let Some(field) = ty.field(s.name) else {
                continue;
            };
            let value = match field.resolve {
                Resolve::Edges => {
                    check_leaf(s, false)?;
                    let edge_sels = self.ctx.collect(edge_ty, &s.sets)?;
                    let mut edge_pairs = Vec::new();
                    for es in &edge_sels {
                        let ekey = text_param(es.key);
                        if es.name == "__typename" {
                            edge_pairs.push((ekey, text_param(&edge_ty.name)));
                            continue;
                        }
                        match edge_ty.field(es.name).map(|f| f.resolve) {
                            Some(Resolve::Cursor) => {
                                check_leaf(es, true)?;
                                need_cursor = true;
                                edge_pairs.push((ekey, col(&r, "__c")));
                            }
                            Some(Resolve::EdgeNode) => {
                                check_leaf(es, false)?;
                                let name = format!("__n{}", row_columns.len());
                                row_columns.push(
                                    self.node_object(t, &a, es)?
                                        .then(Snippet::sql(" as "))
                                        .then(Snippet::ident(&name)),
                                );
                                edge_pairs.push((ekey, col(&r, &name)));
                            }
                            _ => {}
                        }
                    }
                    Snippet::sql("coalesce((select jsonb_agg(")
                        .then(build_object(edge_pairs))
                        .then(Snippet::sql(" order by "))
                        .then(col(&r, "__i"))
                        .then(Snippet::sql(if backward { " desc)" } else { ")" }))
                        .then(from_r(&r))
                        .then(Snippet::sql(" "))
                        .then(Snippet::ident(&r))
                        .then(Snippet::sql(" where "))
                        .then(in_page(&r))
                        .then(Snippet::sql("), '[]'::jsonb)"))
                }
                Resolve::PageInfo => {
                    check_leaf(s, false)?;
                    let pi_ty = self.type_def("PageInfo")?;
                    let pi_sels = self.ctx.collect(pi_ty, &s.sets)?;
                    let count_r = Snippet::sql("(select count(*)")
                        .then(from_r(&r))
                        .then(Snippet::sql(")"));
                    let more = count_r
                        .clone()
                        .then(Snippet::sql(" > "))
                        .then(Snippet::int(page));
                    let exists_outside = |cond: Snippet| {
                        Snippet::sql("exists(select 1")
                            .then(from.clone())
                            .then(Snippet::sql(" where "))
                            .then(base_where.clone())
                            .then(Snippet::sql(" and "))
                            .then(cond)
                            .then(Snippet::sql(")"))
                    };
                    // rows before the page exist (forward) / after it (backward)
                    let outside = match &cursor_values {
                        Some(_) => exists_outside(Snippet::sql("not ").then(page_cond.clone())),
                        None => Snippet::sql("false"),
                    };
                    let (has_next, has_prev) = if backward {
                        (outside, more)
                    } else {
                        let prev = if skip > 0 {
                            Snippet::sql("(")
                                .then(outside)
                                .then(Snippet::sql(" or "))
                                .then(exists_outside(Snippet::sql("true")))
                                .then(Snippet::sql(")"))
                        } else {
                            outside
                        };
                        (more, prev)
                    };
                    let first_in_page = Snippet::sql("(select ")
                        .then(col(&r, "__c"))
                        .then(from_r(&r))
                        .then(Snippet::sql(" "))
                        .then(Snippet::ident(&r))
                        .then(Snippet::sql(" where "))
                        .then(in_page(&r))
                        .then(Snippet::sql(" order by "))
                        .then(col(&r, "__i"))
                        .then(Snippet::sql(" asc limit 1)"));
                    let last_in_page = Snippet::sql("(select ")
                        .then(col(&r, "__c"))
                        .then(from_r(&r))
                        .then(Snippet::sql(" "))
                        .then(Snippet::ident(&r))
                        .then(Snippet::sql(" where "))
                        .then(in_page(&r))
                        .then(Snippet::sql(" order by "))
                        .then(col(&r, "__i"))
                        .then(Snippet::sql(" desc limit 1)"));
                    let (start, end) = if backward {
                        (last_in_page, first_in_page)
                    } else {
                        (first_in_page, last_in_page)
                    };
                    let mut pi_pairs = Vec::new();
                    for ps in &pi_sels {
                        let pkey = text_param(ps.key);
                        if ps.name == "__typename" {
                            pi_pairs.push((pkey, text_param("PageInfo")));
                            continue;
                        }
                        check_leaf(ps, true)?;
                        let v = match pi_ty.field(ps.name).map(|f| f.resolve) {
                            Some(Resolve::HasNextPage) => has_next.clone(),
                            Some(Resolve::HasPreviousPage) => has_prev.clone(),
                            Some(Resolve::StartCursor) => {
                                need_cursor = true;
                                start.clone()
                            }
                            Some(Resolve::EndCursor) => {
                                need_cursor = true;
                                end.clone()
                            }
                            _ => continue,
                        };
                        pi_pairs.push((pkey, v));
                    }
                    build_object(pi_pairs)
                }
                Resolve::Aggregate => {
                    check_leaf(s, false)?;
                    let agg = self.aggregate(t, &a, s)?;
                    Snippet::sql("(select ")
                        .then(agg)
                        .then(from.clone())
                        .then(Snippet::sql(" where "))
                        .then(base_where.clone())
                        .then(Snippet::sql(")"))
                }
                Resolve::TotalCount => {
                    check_leaf(s, true)?;
                    Snippet::sql("(select count(*)")
                        .then(from.clone())
                        .then(Snippet::sql(" where "))
                        .then(base_where.clone())
                        .then(Snippet::sql(")::int"))
                }
                _ => continue,
            };
            pairs.push((key, value));
        }
        if need_cursor {
            row_columns.push(cursor_expr.then(Snippet::sql(" as __c")));
        }
        let order = self.order_clause(t, &a, &query_terms);
        row_columns.push(
            Snippet::sql("row_number() over (order by ")
                .then(order.clone())
                .then(Snippet::sql(") as __i")),
        );
        Ok(Snippet::sql("(with ")
            .then(Snippet::ident(&r))
            .then(Snippet::sql(" as (select "))
            .then(Snippet::join(row_columns, ", "))
            .then(from)
            .then(Snippet::sql(" where "))
            .then(base_where)
            .then(Snippet::sql(" and "))
            .then(page_cond)
            .then(Snippet::sql(" order by "))
            .then(order)
            .then(Snippet::sql(" limit "))
            .then(Snippet::int(page + 1))
            .then(Snippet::sql(" offset "))
            .then(Snippet::int(skip))
            .then(Snippet::sql(") select "))
            .then(build_object(pairs))
            .then(Snippet::sql(")")))
    }

    /// The `aggregate { count sum {..} avg {..} min {..} max {..} }` object over the rows
    /// `alias` (an aggregate expression: the caller supplies FROM and WHERE).
    fn aggregate(&self, t: usize, alias: &str, sel: &Sel<'q>) -> Result<Snippet> {
        let table = self.table(t);
        let ty = self.type_def(&format!("{}Aggregate", table.type_name))?;
        let mut pairs = Vec::new();
        for s in &self.ctx.collect(ty, &sel.sets)? {
            let key = text_param(s.key);
            if s.name == "__typename" {
                pairs.push((key, text_param(&ty.name)));
                continue;
            }
            match ty.field(s.name).map(|f| f.resolve) {
                Some(Resolve::AggregateCount) => {
                    check_leaf(s, true)?;
                    pairs.push((key, Snippet::sql("count(*)::int")));
                }
                Some(Resolve::AggregateGroup(op)) => {
                    check_leaf(s, false)?;
                    let group_name = format!("{}{}AggregateResult", table.type_name, op.title());
                    let group = self.type_def(&group_name)?;
                    let mut inner = Vec::new();
                    for g in &self.ctx.collect(group, &s.sets)? {
                        let gkey = text_param(g.key);
                        if g.name == "__typename" {
                            inner.push((gkey, text_param(&group.name)));
                            continue;
                        }
                        check_leaf(g, true)?;
                        let Some(Resolve::Column(ci)) = group.field(g.name).map(|f| f.resolve)
                        else {
                            continue;
                        };
                        let c = &table.columns[ci];
                        let column = col(alias, &c.sql);
                        let func: &'static str = match (op, &c.scalar) {
                            (AggOp::Sum, _) => "sum(",
                            (AggOp::Avg, _) => "avg(",
                            (AggOp::Min, Scalar::Boolean) => "bool_and(",
                            (AggOp::Max, Scalar::Boolean) => "bool_or(",
                            (AggOp::Min, _) => "min(",
                            (AggOp::Max, _) => "max(",
                        };
                        let as_text = matches!(
                            op.result(&c.scalar),
                            Some(Scalar::BigInt | Scalar::BigFloat)
                        );
                        let expr = Snippet::sql(func)
                            .then(column)
                            .then(Snippet::sql(if as_text { ")::text" } else { ")" }));
                        inner.push((gkey, expr));
                    }
                    pairs.push((key, build_object(inner)));
                }
                _ => {}
            }
        }
        Ok(build_object(pairs))
    }

    /// The text Postgres should parse for a filter value on column `c` (enum names mapped
    /// to their SQL labels).
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

    /// A filter object as a condition on the row `alias`; `None` when it filters nothing.
    pub fn filter(&self, t: usize, alias: &str, filter: &Value) -> Result<Option<Snippet>> {
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
                        match self.filter(t, alias, item)? {
                            Some(c) => subs.push(c),
                            None => always = true,
                        }
                    }
                    if key == "and" {
                        if !subs.is_empty() {
                            conds.push(and_all(subs));
                        }
                    } else if !items.is_empty() && !always {
                        conds.push(
                            Snippet::sql("(")
                                .then(Snippet::join(subs, " or "))
                                .then(Snippet::sql(")")),
                        );
                    }
                }
                ("not", None) if filter_ty.input_field(key).is_some() => {
                    if let Some(c) = self.filter(t, alias, value)? {
                        conds.push(Snippet::sql("not ").then(c));
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
                            let c = col(alias, &table.columns[ci].sql);
                            conds.push(match sql_text(v) {
                                Some(text) => {
                                    c.then(Snippet::sql(" = ")).then(Snippet::param(text))
                                }
                                None => Snippet::sql("false"),
                            });
                        }
                    }
                }
                (_, Some((_, c))) => {
                    let Value::Object(ops) = value else { continue };
                    for (op, v) in ops {
                        if v.is_null() {
                            continue;
                        }
                        let column = col(alias, &c.sql);
                        let binary = |sym: &'static str| -> Snippet {
                            let param = match self.value_text(c, v) {
                                Some(text) => Snippet::param(text),
                                None => Snippet::null_param(),
                            };
                            Snippet::sql("(")
                                .then(column.clone())
                                .then(Snippet::sql(sym))
                                .then(param)
                                .then(Snippet::sql(")"))
                        };
                        let cond = match op.as_str() {
                            "eq" => binary(" = "),
                            "neq" => binary(" <> "),
                            "lt" => binary(" < "),
                            "lte" => binary(" <= "),
                            "gt" => binary(" > "),
                            "gte" => binary(" >= "),
                            "like" => binary(" like "),
                            "ilike" => binary(" ilike "),
                            "regex" => binary(" ~ "),
                            "iregex" => binary(" ~* "),
                            "startsWith" => binary(" ^@ "),
                            "contains" => binary(" @> "),
                            "containedBy" => binary(" <@ "),
                            "overlaps" => binary(" && "),
                            "in" => {
                                let items = match v {
                                    Value::Array(items) => items.clone(),
                                    other => vec![other.clone()],
                                };
                                let text = self
                                    .value_text(c, &Value::Array(items))
                                    .unwrap_or_else(|| "{}".into());
                                Snippet::sql("(")
                                    .then(column.clone())
                                    .then(Snippet::sql(" = any("))
                                    .then(Snippet::param(text))
                                    .then(Snippet::sql("))"))
                            }
                            "is" => match v.as_str() {
                                Some("NULL") => column.then(Snippet::sql(" is null")),
                                _ => column.then(Snippet::sql(" is not null")),
                            },
                            other => {
                                return Err(GraphqlError::new(format!(
                                    "Unknown filter operation {other}"
                                )));
                            }
                        };
                        conds.push(cond);
                    }
                }
                (_, None) if table.relations.iter().any(|r| &r.field == key) => {
                    // filter by a related table (beyond pg_graphql, its #88): some related
                    // row matches
                    let Some(rel) = table.relations.iter().find(|r| &r.field == key) else {
                        continue;
                    };
                    let target = self.table(rel.target);
                    let b = self.alias("f");
                    let mut inner: Vec<Snippet> = rel
                        .pairs
                        .iter()
                        .map(|(local, foreign)| {
                            col(&b, foreign)
                                .then(Snippet::sql(" = "))
                                .then(col(alias, local))
                        })
                        .collect();
                    if let Some(c) = self.filter(rel.target, &b, value)? {
                        inner.push(c);
                    }
                    conds.push(
                        Snippet::sql("exists(select 1 from ")
                            .then(Snippet::qualified(&target.schema, &target.name))
                            .then(Snippet::sql(" "))
                            .then(Snippet::ident(&b))
                            .then(Snippet::sql(" where "))
                            .then(and_all(inner))
                            .then(Snippet::sql(")")),
                    );
                }
                _ => {
                    return Err(GraphqlError::new(format!(
                        "Input for type {} contains extra keys [\"{key}\"]",
                        filter_ty.name
                    )));
                }
            }
        }
        Ok(if conds.is_empty() {
            None
        } else {
            Some(and_all(conds))
        })
    }

    /// The response object of a mutation over the rows of CTE `affected`, plus its count.
    fn mutation_result(
        &self,
        t: usize,
        sel: &Sel<'q>,
        affected: &str,
        kind: &str,
    ) -> Result<Snippet> {
        let table = self.table(t);
        let kind = self.type_def(&format!("{}{kind}Response", table.type_name))?;
        let sels = self.ctx.collect(kind, &sel.sets)?;
        let mut pairs = Vec::new();
        for s in &sels {
            let key = text_param(s.key);
            if s.name == "__typename" {
                pairs.push((key, text_param(&kind.name)));
                continue;
            }
            match kind.field(s.name).map(|f| f.resolve) {
                Some(Resolve::AffectedCount) => {
                    check_leaf(s, true)?;
                    pairs.push((
                        key,
                        Snippet::sql("(select count(*) from ")
                            .then(Snippet::ident(affected))
                            .then(Snippet::sql(")::int")),
                    ));
                }
                Some(Resolve::Records) => {
                    check_leaf(s, false)?;
                    let b = self.alias("a");
                    let obj = self.node_object(t, &b, s)?;
                    pairs.push((
                        key,
                        Snippet::sql("coalesce((select jsonb_agg(")
                            .then(obj)
                            .then(Snippet::sql(") from "))
                            .then(Snippet::ident(affected))
                            .then(Snippet::sql(" "))
                            .then(Snippet::ident(&b))
                            .then(Snippet::sql("), '[]'::jsonb)")),
                    ));
                }
                _ => {}
            }
        }
        Ok(Snippet::sql("select ")
            .then(build_object(pairs))
            .then(Snippet::sql("::text, (select count(*) from "))
            .then(Snippet::ident(affected))
            .then(Snippet::sql(")")))
    }

    fn returning(table: &TableInfo) -> Snippet {
        Snippet::sql(" returning ").then(Snippet::join(
            table.columns.iter().map(|c| Snippet::ident(&c.sql)),
            ", ",
        ))
    }

    fn insert(&self, t: usize, args: &Map<String, Value>, sel: &Sel<'q>) -> Result<Snippet> {
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
        let a = self.alias("a");
        let target = Snippet::qualified(&table.schema, &table.name)
            .then(Snippet::sql(" as "))
            .then(Snippet::ident(&a));
        let affected = self.alias("affected");
        let conflict = match args.get("onConflict") {
            Some(Value::Object(oc)) => self.on_conflict(t, &a, oc)?,
            _ => Snippet::new(),
        };
        let body = if used.is_empty() {
            Snippet::sql(" select from generate_series(1, ")
                .then(Snippet::int(rows.len() as i64))
                .then(Snippet::sql(")"))
        } else {
            let mut values = Vec::new();
            for row in &rows {
                let mut items = Vec::new();
                for c in &used {
                    items.push(match row.get(&c.field) {
                        None => Snippet::sql("default"),
                        Some(v) => {
                            if let (Some(max), Some(s)) = (c.max_length, v.as_str())
                                && s.chars().count() > max as usize
                            {
                                return Err(GraphqlError::new(format!(
                                    "Invalid input for {} type. Maximum character length {max}",
                                    c.scalar.type_name()
                                )));
                            }
                            match self.value_text(c, v) {
                                Some(text) => Snippet::param(text),
                                None => Snippet::null_param(),
                            }
                        }
                    });
                }
                values.push(
                    Snippet::sql("(")
                        .then(Snippet::join(items, ", "))
                        .then(Snippet::sql(")")),
                );
            }
            Snippet::sql(" (")
                .then(Snippet::join(
                    used.iter().map(|c| Snippet::ident(&c.sql)),
                    ", ",
                ))
                .then(Snippet::sql(") values "))
                .then(Snippet::join(values, ", "))
        };
        Ok(Snippet::sql("with ")
            .then(Snippet::ident(&affected))
            .then(Snippet::sql(" as (insert into "))
            .then(target)
            .then(body)
            .then(conflict)
            .then(Self::returning(table))
            .then(Snippet::sql(") "))
            .then(self.mutation_result(t, sel, &affected, "Insert")?))
    }

    /// `on conflict (key) do update set c = excluded.c ... where <filter>` / `do nothing`.
    fn on_conflict(&self, t: usize, alias: &str, oc: &Map<String, Value>) -> Result<Snippet> {
        let table = self.table(t);
        let name = oc
            .get("constraint")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((_, cols)) = table.unique_keys.iter().find(|(n, _)| n == name) else {
            return Err(GraphqlError::new(format!("Unknown constraint {name}")));
        };
        let mut out = Snippet::sql(" on conflict (")
            .then(Snippet::join(cols.iter().map(|c| Snippet::ident(c)), ", "))
            .then(Snippet::sql(")"));
        let fields: Vec<&ColumnInfo> = oc
            .get("updateFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .filter_map(|f| table.column_by_field(f).map(|(_, c)| c))
            .filter(|c| c.updatable)
            .collect();
        if fields.is_empty() {
            out.push_sql(" do nothing");
            return Ok(out);
        }
        out.push_sql(" do update set ").push(Snippet::join(
            fields.iter().map(|c| {
                Snippet::ident(&c.sql)
                    .then(Snippet::sql(" = excluded."))
                    .then(Snippet::ident(&c.sql))
            }),
            ", ",
        ));
        if let Some(f) = oc.get("filter")
            && let Some(cond) = self.filter(t, alias, f)?
        {
            out.push_sql(" where ").push(cond);
        }
        Ok(out)
    }

    fn update_or_delete(
        &self,
        t: usize,
        args: &Map<String, Value>,
        sel: &Sel<'q>,
        update: bool,
    ) -> Result<Snippet> {
        let table = self.table(t);
        let a = self.alias("a");
        let affected = self.alias("affected");
        let cond = match args.get("filter") {
            Some(f) => self.filter(t, &a, f)?,
            None => None,
        }
        .unwrap_or_else(|| Snippet::sql("true"));
        let target = Snippet::qualified(&table.schema, &table.name)
            .then(Snippet::sql(" "))
            .then(Snippet::ident(&a));
        let head = if update {
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
                let value = match self.value_text(c, v) {
                    Some(text) => Snippet::param(text),
                    None => Snippet::null_param(),
                };
                assignments.push(Snippet::ident(&c.sql).then(Snippet::sql(" = ")).then(value));
            }
            Snippet::sql("update ")
                .then(target)
                .then(Snippet::sql(" set "))
                .then(Snippet::join(assignments, ", "))
        } else {
            Snippet::sql("delete from ").then(target)
        };
        Ok(Snippet::sql("with ")
            .then(Snippet::ident(&affected))
            .then(Snippet::sql(" as ("))
            .then(head)
            .then(Snippet::sql(" where "))
            .then(cond)
            .then(Self::returning(table))
            .then(Snippet::sql(") "))
            .then(self.mutation_result(
                t,
                sel,
                &affected,
                if update { "Update" } else { "Delete" },
            )?))
    }
}
