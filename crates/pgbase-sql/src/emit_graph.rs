//! The GraphQL emitter: a [`GraphStatement`] becomes one `select <json text>, <affected rows>`.
//!
//! Objects are `json_build_object` calls in selection order (spliced when they exceed
//! Postgres' 100-argument limit); to-one rows are scalar subqueries; a connection reads its
//! page in one ordered, limited subquery that `json_agg` aggregates. Only when page info is
//! selected (or the page is read backwards) are the page's rows numbered in a CTE that the
//! page info reads again. Cursors and node ids are base64 of the `jsonb` text of an array,
//! byte-identical to pg_graphql's. Filters, order terms, sources and column references are
//! the REST emitter's ([`crate::emit`]), joins the shared join emitter's
//! (`crate::emit_join`), and a mutation is the shared write ([`crate::emit_write`]) with its
//! response object read from the written rows.

use std::cell::Cell;

use crate::Snippet;
use crate::emit::{column_ref, condition, named_args, order_terms, source};
use crate::emit_join::{self, Through};
use crate::emit_write::write_ctes;
use crate::plan::*;

/// Most key/value pairs in one `json_build_object` call (two arguments each, under 100).
const MAX_PAIRS: usize = 40;

/// The statement of one top-level GraphQL field: one row of (JSON text, affected row count
/// for update/delete, else null).
pub fn statement(plan: &GraphStatement) -> Snippet {
    let e = Emitter::default();
    let value = match plan {
        GraphStatement::Row(row) => e.row(row, None),
        GraphStatement::Connection(c) => e.connection(c, None),
        GraphStatement::Call {
            schema,
            function,
            args,
            format,
        } => {
            let mut call = Snippet::qualified(schema, function);
            call.push_sql("(").push(named_args(args)).push_sql(")");
            let mut s = Snippet::sql("to_json(");
            s.push(format_value(call, format)).push_sql(")");
            s
        }
        GraphStatement::Mutation(m) => return e.mutation(m),
    };
    let mut s = Snippet::sql("select (");
    s.push(value).push_sql(")::text, null::bigint");
    s
}

/// A text bind parameter (keys, `__typename`, schema and table names of node ids).
fn text(value: &str) -> Snippet {
    let mut s = Snippet::param(value);
    s.push_sql("::text");
    s
}

fn col(alias: &str, name: &str) -> Snippet {
    let mut s = Snippet::ident(alias);
    s.push_sql(".").push_ident(name);
    s
}

fn and_all(conds: Vec<Snippet>) -> Snippet {
    if conds.is_empty() {
        return Snippet::sql("true");
    }
    Snippet::join(conds, " and ")
}

/// A JSON object of `pairs`, keys in order.
fn object(pairs: Vec<(&str, Snippet)>) -> Snippet {
    if pairs.is_empty() {
        return Snippet::sql("'{}'::json");
    }
    let mut chunks: Vec<Snippet> = Vec::new();
    let mut pairs = pairs.into_iter().peekable();
    while pairs.peek().is_some() {
        let chunk = pairs.by_ref().take(MAX_PAIRS).map(|(k, v)| {
            let mut p = text(k);
            p.push_sql(", ").push(v);
            p
        });
        let mut s = Snippet::sql("json_build_object(");
        s.push(Snippet::join(chunk, ", ")).push_sql(")");
        chunks.push(s);
    }
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    // more keys than one call takes: splice the objects' texts, which keeps the key order
    let last = chunks.len() - 1;
    let parts = chunks.into_iter().enumerate().map(|(i, chunk)| {
        let mut p = Snippet::sql(match (i == 0, i == last) {
            (true, _) => "left(",
            (false, true) => "right(",
            (false, false) => "right(left(",
        });
        p.push(chunk).push_sql(match (i == 0, i == last) {
            (true, _) | (false, true) => "::text, -1)",
            (false, false) => "::text, -1), -1)",
        });
        p
    });
    let mut s = Snippet::sql("(");
    s.push(Snippet::join(parts, " || ', ' || "))
        .push_sql(")::json");
    s
}

/// One `sum`/`avg`/`min`/`max` of an `aggregate` selection, written as pg_graphql writes it:
/// a JSON number (never a string, whatever the column's GraphQL type), `avg` over `numeric`
/// and written as the double it becomes in pg_graphql (`2.5`, `2.0`, not
/// `2.5000000000000000`).
fn aggregate_value(function: Aggregate, column: Snippet, as_text: bool) -> Snippet {
    if function == Aggregate::Avg {
        let avg = || {
            let mut s = Snippet::sql("avg(");
            s.push(column.clone()).push_sql("::numeric)::float8");
            s
        };
        let mut s = Snippet::sql("(case when ");
        s.push(avg())
            .push_sql("::text ~ '^-?[0-9]+$' then (")
            .push(avg())
            .push_sql("::text || '.0')::json else to_json(")
            .push(avg())
            .push_sql(") end)");
        return s;
    }
    let mut s = Snippet::sql(function.name());
    s.push_sql("(")
        .push(column)
        .push_sql(if as_text { ")::text" } else { ")" });
    s
}

/// A value written the way pg_graphql writes it.
fn format_value(base: Snippet, format: &Format) -> Snippet {
    match format {
        Format::Plain => base,
        Format::Text => base.then(Snippet::sql("::text")),
        Format::TextArray => base.then(Snippet::sql("::text[]")),
        Format::JsonText => {
            let mut s = Snippet::sql("(");
            s.push(base).push_sql(" #>> '{}')");
            s
        }
        Format::Labels(labels) => {
            let mut s = Snippet::sql("(case ");
            s.push(base).push_sql("::text");
            for (label, name) in labels {
                s.push_sql(" when ")
                    .push(Snippet::param(label.clone()))
                    .push_sql(" then ")
                    .push(text(name));
            }
            s.push_sql(" end)");
            s
        }
    }
}

/// base64 of the `jsonb` text of `jsonb_build_array(items)`, newlines removed.
fn encoded_array(items: Vec<Snippet>) -> Snippet {
    let mut s = Snippet::sql("translate(encode(convert_to(jsonb_build_array(");
    s.push(Snippet::join(items, ", "))
        .push_sql(")::text, 'utf-8'), 'base64'), E'\\n', '')");
    s
}

/// The value an order term sorts on.
fn order_value(alias: &str, target: &OrderTarget) -> Option<Snippet> {
    match target {
        OrderTarget::Column(c) => Some(column_ref(alias, c)),
        OrderTarget::EmbedColumn { .. } => None,
    }
}

/// Conditions tying the row `alias` to the row `parent` of the enclosing level: the shared
/// join emitter's, a junction as an `exists` test so each row is listed once.
fn join_conditions(alias: &str, parent: Option<&str>, join: Option<&Join>) -> Vec<Snippet> {
    let (Some(parent), Some(join)) = (parent, join) else {
        return Vec::new();
    };
    emit_join::join(join, alias, parent, Through::Exists).conditions
}

/// Hands out the statement's aliases (`g0`, `g1`, …).
#[derive(Default)]
struct Emitter {
    next: Cell<usize>,
}

impl Emitter {
    fn alias(&self) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("g{n}")
    }

    fn object_over(&self, fields: &Object<Output>, row: &str) -> Snippet {
        object(
            fields
                .iter()
                .map(|(k, o)| (k.as_str(), self.output(o, row)))
                .collect(),
        )
    }

    fn output(&self, output: &Output, row: &str) -> Snippet {
        match output {
            Output::Literal(s) => text(s),
            Output::Column { column, format } => format_value(column_ref(row, column), format),
            Output::NodeId { schema, table, pk } => {
                let mut items = vec![text(schema), text(table)];
                items.extend(pk.iter().map(|c| col(row, c)));
                encoded_array(items)
            }
            Output::Row(r) => self.row(r, Some(row)),
            Output::Connection(c) => self.connection(c, Some(row)),
        }
    }

    /// `(select <object> from <source> where … limit 1)`.
    fn row(&self, r: &RowObject, parent: Option<&str>) -> Snippet {
        let a = self.alias();
        let mut s = Snippet::sql("(select ");
        s.push(self.object_over(&r.object, &a))
            .push_sql(" from ")
            .push(source(&r.source, &a, parent));
        let mut conds = join_conditions(&a, parent, r.join.as_ref());
        conds.extend(r.filter.iter().map(|c| condition(c, &a)));
        if r.skip_null_row {
            let mut c = Snippet::sql("not (");
            c.push_ident(&a).push_sql(" is null)");
            conds.push(c);
        }
        if !conds.is_empty() {
            s.push_sql(" where ").push(and_all(conds));
        }
        s.push_sql(" limit 1)");
        s
    }

    /// ` from <source> as alias where <join and filter [and extra]>` of a connection.
    fn matching(
        &self,
        c: &Connection,
        alias: &str,
        parent: Option<&str>,
        extra: Option<Snippet>,
    ) -> Snippet {
        let mut s = Snippet::sql(" from ");
        s.push(source(&c.source, alias, parent));
        let mut conds = join_conditions(alias, parent, c.join.as_ref());
        conds.extend(c.filter.iter().map(|f| condition(f, alias)));
        conds.extend(extra);
        if !conds.is_empty() {
            s.push_sql(" where ").push(and_all(conds));
        }
        s
    }

    fn total_count(&self, c: &Connection, parent: Option<&str>) -> Snippet {
        let b = self.alias();
        let mut s = Snippet::sql("(select count(*)");
        s.push(self.matching(c, &b, parent, None))
            .push_sql(")::int");
        s
    }

    fn aggregate(
        &self,
        c: &Connection,
        fields: &Object<AggregateField>,
        parent: Option<&str>,
    ) -> Snippet {
        let b = self.alias();
        let pairs = fields
            .iter()
            .map(|(k, f)| {
                let v = match f {
                    AggregateField::Literal(s) => text(s),
                    AggregateField::Count => Snippet::sql("count(*)::int"),
                    AggregateField::Group(values) => object(
                        values
                            .iter()
                            .map(|(k, v)| {
                                let v = match v {
                                    AggregateValue::Literal(s) => text(s),
                                    AggregateValue::Apply {
                                        function,
                                        column,
                                        as_text,
                                    } => {
                                        aggregate_value(*function, column_ref(&b, column), *as_text)
                                    }
                                };
                                (k.as_str(), v)
                            })
                            .collect(),
                    ),
                };
                (k.as_str(), v)
            })
            .collect();
        let mut s = Snippet::sql("(select ");
        s.push(object(pairs))
            .push(self.matching(c, &b, parent, None))
            .push_sql(")");
        s
    }

    /// The page's rows: `select <columns> from … where … order by … limit … offset …`.
    fn page(
        &self,
        c: &Connection,
        alias: &str,
        parent: Option<&str>,
        columns: Vec<Snippet>,
        extra_row: bool,
    ) -> Snippet {
        let mut s = Snippet::sql("select ");
        let keyset = c.keyset.as_ref().map(|k| condition(k, alias));
        s.push(Snippet::join(columns, ", "))
            .push(self.matching(c, alias, parent, keyset));
        if !c.order.is_empty() {
            s.push_sql(" order by ").push(order_terms(&c.order, alias));
        }
        let limit = c.limit.saturating_add(u64::from(extra_row));
        s.push_sql(" limit ")
            .push(Snippet::int(i64::try_from(limit).unwrap_or(i64::MAX)));
        if c.offset > 0 {
            s.push_sql(" offset ")
                .push(Snippet::int(i64::try_from(c.offset).unwrap_or(i64::MAX)));
        }
        s
    }

    fn cursor(&self, c: &Connection, alias: &str) -> Snippet {
        encoded_array(
            c.order
                .iter()
                .filter_map(|o| order_value(alias, &o.target))
                .collect(),
        )
    }

    /// The edge objects over the page rows `r`; node objects (over the source row `a`) and
    /// the cursor become columns of the page.
    fn edge_object(
        &self,
        fields: &Object<EdgeField>,
        a: &str,
        r: &str,
        columns: &mut Vec<Snippet>,
    ) -> Snippet {
        let pairs = fields
            .iter()
            .map(|(k, f)| {
                let v = match f {
                    EdgeField::Literal(s) => text(s),
                    EdgeField::Cursor => col(r, "c"),
                    EdgeField::Node(node) => {
                        let name = format!("n{}", columns.len());
                        let mut column = self.object_over(node, a);
                        column.push_sql(" as ").push_ident(&name);
                        columns.push(column);
                        col(r, &name)
                    }
                };
                (k.as_str(), v)
            })
            .collect();
        object(pairs)
    }

    fn connection(&self, c: &Connection, parent: Option<&str>) -> Snippet {
        if c.has_page_info() || c.backward {
            return self.numbered_connection(c, parent);
        }
        let a = self.alias();
        let r = self.alias();
        let mut columns = Vec::new();
        let mut paged = false;
        let mut pairs = Vec::new();
        for (k, f) in &c.fields {
            let v = match f {
                ConnectionField::Literal(s) => text(s),
                ConnectionField::Edges(edge) => {
                    paged = true;
                    let mut s = Snippet::sql("coalesce(json_agg(");
                    s.push(self.edge_object(edge, &a, &r, &mut columns))
                        .push_sql("), '[]'::json)");
                    s
                }
                ConnectionField::TotalCount => self.total_count(c, parent),
                ConnectionField::Aggregate(fields) => self.aggregate(c, fields, parent),
                ConnectionField::PageInfo(_) => continue,
            };
            pairs.push((k.as_str(), v));
        }
        let mut s = Snippet::sql("(select ");
        s.push(object(pairs));
        if paged {
            if needs_cursor(c) {
                let mut cursor = self.cursor(c, &a);
                cursor.push_sql(" as \"c\"");
                columns.push(cursor);
            }
            s.push_sql(" from (")
                .push(self.page(c, &a, parent, columns, false))
                .push_sql(") as ")
                .push_ident(&r);
        }
        s.push_sql(")");
        s
    }

    /// A connection whose page is numbered in a CTE (`i`, counted before the offset) read by
    /// the edges and again by the page info; one extra row tells whether a next page exists.
    fn numbered_connection(&self, c: &Connection, parent: Option<&str>) -> Snippet {
        let a = self.alias();
        let r = self.alias();
        let last_in_page = i64::try_from(c.offset.saturating_add(c.limit)).unwrap_or(i64::MAX);
        let page_limit = i64::try_from(c.limit).unwrap_or(i64::MAX);
        let in_page = || {
            let mut s = col(&r, "i");
            s.push_sql(" <= ").push(Snippet::int(last_in_page));
            s
        };
        let mut columns = Vec::new();
        let mut pairs = Vec::new();
        for (k, f) in &c.fields {
            let v = match f {
                ConnectionField::Literal(s) => text(s),
                ConnectionField::Edges(edge) => {
                    let mut s = Snippet::sql("coalesce((select json_agg(");
                    s.push(self.edge_object(edge, &a, &r, &mut columns))
                        .push_sql(" order by ")
                        .push(col(&r, "i"))
                        .push_sql(if c.backward { " desc" } else { "" })
                        .push_sql(") from ")
                        .push_ident(&r)
                        .push_sql(" where ")
                        .push(in_page())
                        .push_sql("), '[]'::json)");
                    s
                }
                ConnectionField::PageInfo(info) => {
                    let info_pairs = info
                        .iter()
                        .map(|(k, f)| {
                            let v = match f {
                                PageInfoField::Literal(s) => text(s),
                                PageInfoField::HasNextPage if c.backward => {
                                    self.rows_outside(c, parent, false)
                                }
                                PageInfoField::HasPreviousPage if c.backward => {
                                    more_rows(&r, page_limit)
                                }
                                PageInfoField::HasNextPage => more_rows(&r, page_limit),
                                PageInfoField::HasPreviousPage => {
                                    self.rows_outside(c, parent, c.offset > 0)
                                }
                                PageInfoField::StartCursor => {
                                    edge_cursor(&r, in_page(), !c.backward)
                                }
                                PageInfoField::EndCursor => edge_cursor(&r, in_page(), c.backward),
                            };
                            (k.as_str(), v)
                        })
                        .collect();
                    object(info_pairs)
                }
                ConnectionField::TotalCount => self.total_count(c, parent),
                ConnectionField::Aggregate(fields) => self.aggregate(c, fields, parent),
            };
            pairs.push((k.as_str(), v));
        }
        if needs_cursor(c) {
            let mut cursor = self.cursor(c, &a);
            cursor.push_sql(" as \"c\"");
            columns.push(cursor);
        }
        let mut number = Snippet::sql("row_number() over (");
        if !c.order.is_empty() {
            number.push_sql("order by ").push(order_terms(&c.order, &a));
        }
        number.push_sql(") as \"i\"");
        columns.push(number);
        let mut s = Snippet::sql("(with ");
        s.push_ident(&r)
            .push_sql(" as (")
            .push(self.page(c, &a, parent, columns, true))
            .push_sql(") select ")
            .push(object(pairs))
            .push_sql(")");
        s
    }

    /// Whether rows outside the page exist on the side the cursor points away from: rows not
    /// after the cursor (`any_row`: with an offset, any matching row precedes the page).
    fn rows_outside(&self, c: &Connection, parent: Option<&str>, any_row: bool) -> Snippet {
        let exists = |cond: Option<&Condition>| {
            let b = self.alias();
            let not = cond.map(|cond| {
                let mut not = Snippet::sql("not (");
                not.push(condition(cond, &b)).push_sql(")");
                not
            });
            let mut s = Snippet::sql("exists(select 1");
            s.push(self.matching(c, &b, parent, not)).push_sql(")");
            s
        };
        match (&c.keyset, any_row) {
            (Some(keyset), false) => exists(Some(keyset)),
            (Some(keyset), true) => {
                let mut s = Snippet::sql("(");
                s.push(exists(Some(keyset)))
                    .push_sql(" or ")
                    .push(exists(None))
                    .push_sql(")");
                s
            }
            (None, true) => exists(None),
            (None, false) => Snippet::sql("false"),
        }
    }

    /// The shared write's CTEs ([`crate::emit_write`]), then the response object over
    /// `pgrst_source` (the written rows) and the affected count.
    fn mutation(&self, m: &MutationPlan) -> Snippet {
        let count = || Snippet::sql("(select count(*) from pgrst_source)");
        let pairs = m
            .fields
            .iter()
            .map(|(k, f)| {
                let v = match f {
                    MutationField::Literal(s) => text(s),
                    MutationField::AffectedCount => count().then(Snippet::sql("::int")),
                    MutationField::Records(node) => {
                        let b = self.alias();
                        let mut s = Snippet::sql("coalesce((select json_agg(");
                        s.push(self.object_over(node, &b))
                            .push_sql(") from pgrst_source as ")
                            .push_ident(&b)
                            .push_sql("), '[]'::json)");
                        s
                    }
                };
                (k.as_str(), v)
            })
            .collect();
        let mut s = Snippet::sql("with ");
        s.push(write_ctes(m.write.clone()))
            .push_sql(" select (")
            .push(object(pairs))
            .push_sql(")::text, ")
            .push(count());
        s
    }
}

fn needs_cursor(c: &Connection) -> bool {
    c.fields.iter().any(|(_, f)| match f {
        ConnectionField::Edges(edge) => edge.iter().any(|(_, f)| matches!(f, EdgeField::Cursor)),
        ConnectionField::PageInfo(info) => info
            .iter()
            .any(|(_, f)| matches!(f, PageInfoField::StartCursor | PageInfoField::EndCursor)),
        _ => false,
    })
}

/// `(select count(*) from r) > page`: the extra row was read.
fn more_rows(r: &str, page: i64) -> Snippet {
    let mut s = Snippet::sql("(select count(*) from ");
    s.push_ident(r).push_sql(") > ").push(Snippet::int(page));
    s
}

/// The cursor of the first (`first`) or last row of the page.
fn edge_cursor(r: &str, in_page: Snippet, first: bool) -> Snippet {
    let mut s = Snippet::sql("(select ");
    s.push(col(r, "c"))
        .push_sql(" from ")
        .push_ident(r)
        .push_sql(" where ")
        .push(in_page)
        .push_sql(" order by ")
        .push(col(r, "i"))
        .push_sql(if first {
            " asc limit 1)"
        } else {
            " desc limit 1)"
        });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Source {
        Source::Table {
            schema: "public".into(),
            name: name.into(),
        }
    }

    fn column(name: &str) -> Output {
        Output::Column {
            column: ColumnRef::new(name),
            format: Format::Plain,
        }
    }

    fn films(fields: Object<ConnectionField>) -> Connection {
        Connection {
            source: table("films"),
            join: None,
            filter: Vec::new(),
            order: vec![OrderExpr {
                target: OrderTarget::Column(ColumnRef::new("id")),
                descending: false,
                nulls: Some(Nulls::Last),
            }],
            keyset: None,
            limit: 20,
            offset: 0,
            backward: false,
            fields,
        }
    }

    fn edges(node: Object<Output>) -> ConnectionField {
        ConnectionField::Edges(vec![("node".into(), EdgeField::Node(node))])
    }

    #[test]
    fn a_page_without_page_info_is_one_limited_subquery_without_a_window() {
        let mut roles = films(vec![(
            "edges".into(),
            edges(vec![("character".into(), column("character"))]),
        )]);
        roles.source = table("roles");
        roles.join = Some(Join::Columns(vec![("id".into(), "film_id".into())]));
        roles.limit = 5;
        let director = RowObject {
            source: table("directors"),
            join: Some(Join::Columns(vec![("director_id".into(), "id".into())])),
            filter: Vec::new(),
            object: vec![("name".into(), column("name"))],
            skip_null_row: false,
        };
        let plan = films(vec![(
            "edges".into(),
            edges(vec![
                ("id".into(), column("id")),
                ("directors".into(), Output::Row(Box::new(director))),
                (
                    "rolesCollection".into(),
                    Output::Connection(Box::new(roles)),
                ),
            ]),
        )]);
        let (sql, params) = statement(&GraphStatement::Connection(Box::new(plan))).render();
        assert_eq!(
            sql,
            "select ((select json_build_object($1::text, coalesce(json_agg(json_build_object($2::text, \"g1\".\"n0\")), '[]'::json)) \
             from (select json_build_object($3::text, \"g0\".\"id\", $4::text, \
             (select json_build_object($5::text, \"g2\".\"name\") from \"public\".\"directors\" as \"g2\" where \"g2\".\"id\" = \"g0\".\"director_id\" limit 1), $6::text, \
             (select json_build_object($7::text, coalesce(json_agg(json_build_object($8::text, \"g4\".\"n0\")), '[]'::json)) \
             from (select json_build_object($9::text, \"g3\".\"character\") as \"n0\" from \"public\".\"roles\" as \"g3\" where \"g3\".\"film_id\" = \"g0\".\"id\" \
             order by \"g3\".\"id\" asc nulls last limit 5) as \"g4\")) as \"n0\" \
             from \"public\".\"films\" as \"g0\" order by \"g0\".\"id\" asc nulls last limit 20) as \"g1\"))::text, null::bigint"
        );
        let keys: Vec<_> = params.iter().filter_map(|p| p.0.as_deref()).collect();
        assert_eq!(
            keys,
            [
                "edges",
                "node",
                "id",
                "directors",
                "name",
                "rolesCollection",
                "edges",
                "node",
                "character"
            ]
        );
    }

    #[test]
    fn page_info_numbers_the_page_once_and_reads_one_extra_row() {
        let mut plan = films(vec![
            (
                "edges".into(),
                ConnectionField::Edges(vec![("cursor".into(), EdgeField::Cursor)]),
            ),
            (
                "pageInfo".into(),
                ConnectionField::PageInfo(vec![
                    ("hasNextPage".into(), PageInfoField::HasNextPage),
                    ("endCursor".into(), PageInfoField::EndCursor),
                ]),
            ),
        ]);
        plan.offset = 2;
        let (sql, _) = statement(&GraphStatement::Connection(Box::new(plan))).render();
        assert!(sql.starts_with("select ((with \"g1\" as (select translate(encode(convert_to(jsonb_build_array(\"g0\".\"id\")::text, 'utf-8'), 'base64'), E'\\n', '') as \"c\", row_number() over (order by \"g0\".\"id\" asc nulls last) as \"i\" from \"public\".\"films\" as \"g0\" order by \"g0\".\"id\" asc nulls last limit 21 offset 2)"), "{sql}");
        assert!(sql.contains("where \"g1\".\"i\" <= 22"), "{sql}");
        assert!(sql.contains("(select count(*) from \"g1\") > 20"), "{sql}");
        assert!(sql.contains("order by \"g1\".\"i\" desc limit 1)"), "{sql}");
    }

    #[test]
    fn objects_beyond_the_argument_limit_are_spliced_in_key_order() {
        let pairs: Vec<(String, Output)> = (0..90)
            .map(|i| (format!("k{i}"), Output::Literal(format!("v{i}"))))
            .collect();
        let row = RowObject {
            source: table("films"),
            join: None,
            filter: Vec::new(),
            object: pairs,
            skip_null_row: true,
        };
        let (sql, params) = statement(&GraphStatement::Row(row)).render();
        assert_eq!(sql.matches("json_build_object(").count(), 3, "{sql}");
        assert!(sql.contains("(left(json_build_object("), "{sql}");
        assert!(
            sql.contains(")::text, -1) || ', ' || right(left(json_build_object("),
            "{sql}"
        );
        assert!(
            sql.contains(")::text, -1), -1) || ', ' || right(json_build_object("),
            "{sql}"
        );
        assert!(
            sql.contains(" where not (\"g0\" is null) limit 1)"),
            "{sql}"
        );
        assert_eq!(params.len(), 180);
        assert_eq!(params[178].0.as_deref(), Some("k89"));
    }

    #[test]
    fn related_filters_are_exists_and_related_order_terms_subqueries() {
        let mut posts = ReadPlan::new(table("roles"));
        posts.filter.push(Condition::Compare {
            column: ColumnRef::new("character"),
            op: "=",
            operand: Operand::Value("x".into()),
        });
        let mut inner = posts.clone();
        inner.filter.push(Condition::Exists {
            plan: Box::new(posts),
            join: Join::Columns(vec![("film_id".into(), "film_id".into())]),
        });
        let mut plan = films(vec![(
            "edges".into(),
            edges(vec![("id".into(), column("id"))]),
        )]);
        plan.filter.push(Condition::Exists {
            plan: Box::new(inner),
            join: Join::Columns(vec![("id".into(), "film_id".into())]),
        });
        let mut by_director = ColumnRef::new("name");
        by_director.via = Some(Box::new(ToOne {
            schema: "public".into(),
            table: "directors".into(),
            pairs: vec![("director_id".into(), "id".into())],
        }));
        plan.order.insert(
            0,
            OrderExpr {
                target: OrderTarget::Column(by_director),
                descending: true,
                nulls: Some(Nulls::First),
            },
        );
        let (sql, _) = statement(&GraphStatement::Connection(Box::new(plan))).render();
        assert!(sql.contains("where exists(select 1 from \"public\".\"roles\" as \"g0_x1\" where \"g0_x1\".\"film_id\" = \"g0\".\"id\" and \"g0_x1\".\"character\" = $4 and exists(select 1 from \"public\".\"roles\" as \"g0_x2\" where \"g0_x2\".\"film_id\" = \"g0_x1\".\"film_id\" and \"g0_x2\".\"character\" = $5))"), "{sql}");
        assert!(sql.contains("order by (select \"g0_v\".\"name\" from \"public\".\"directors\" as \"g0_v\" where \"g0_v\".\"id\" = \"g0\".\"director_id\" limit 1) desc nulls first, \"g0\".\"id\" asc nulls last"), "{sql}");
    }

    #[test]
    fn mutation_records_with_computed_fields_read_whole_rows() {
        let plan = MutationPlan {
            write: WritePlan {
                schema: "public".into(),
                table: "films".into(),
                write: Write::Update {
                    set: vec![
                        ("title".into(), SetValue::Value(Some("t".into()))),
                        ("year".into(), SetValue::Value(None)),
                    ],
                    filter: vec![Condition::Compare {
                        column: ColumnRef::new("id"),
                        op: "=",
                        operand: Operand::Value("1".into()),
                    }],
                    order: Vec::new(),
                    limit: None,
                    offset: 0,
                },
                payload: PayloadSource::Params,
                returning: WriteReturning::Rows,
                representations: Vec::new(),
            },
            fields: vec![
                ("affectedCount".into(), MutationField::AffectedCount),
                (
                    "records".into(),
                    MutationField::Records(vec![(
                        "label".into(),
                        Output::Column {
                            column: ColumnRef::computed(ComputedField {
                                schema: "public".into(),
                                function: "label".into(),
                                row_cast: Some(RowType {
                                    schema: "public".into(),
                                    name: "films".into(),
                                }),
                            }),
                            format: Format::Text,
                        },
                    )]),
                ),
            ],
        };
        let (sql, params) = statement(&GraphStatement::Mutation(plan)).render();
        assert_eq!(
            sql,
            "with pgrst_source as (update \"public\".\"films\" as \"pgrst_t\" set \"title\" = $1, \"year\" = $2 where \"pgrst_t\".\"id\" = $3 returning \"pgrst_t\".*) \
             select (json_build_object($4::text, (select count(*) from pgrst_source)::int, $5::text, \
             coalesce((select json_agg(json_build_object($6::text, \"public\".\"label\"(\"g0\"::\"public\".\"films\")::text)) from pgrst_source as \"g0\"), '[]'::json)))::text, \
             (select count(*) from pgrst_source)"
        );
        assert_eq!(params[1].0, None);
    }

    #[test]
    fn node_ids_and_labels_are_formatted_like_pg_graphql() {
        let row = RowObject {
            source: table("films"),
            join: None,
            filter: Vec::new(),
            object: vec![
                (
                    "nodeId".into(),
                    Output::NodeId {
                        schema: "public".into(),
                        table: "films".into(),
                        pk: vec!["id".into()],
                    },
                ),
                (
                    "status".into(),
                    Output::Column {
                        column: ColumnRef::new("status"),
                        format: Format::Labels(vec![("draft".into(), "DRAFT".into())]),
                    },
                ),
                (
                    "meta".into(),
                    Output::Column {
                        column: ColumnRef::new("meta"),
                        format: Format::JsonText,
                    },
                ),
            ],
            skip_null_row: false,
        };
        let (sql, _) = statement(&GraphStatement::Row(row)).render();
        assert!(sql.contains("translate(encode(convert_to(jsonb_build_array($2::text, $3::text, \"g0\".\"id\")::text, 'utf-8'), 'base64'), E'\\n', '')"), "{sql}");
        assert!(
            sql.contains("(case \"g0\".\"status\"::text when $5 then $6::text end)"),
            "{sql}"
        );
        assert!(sql.contains("(\"g0\".\"meta\" #>> '{}')"), "{sql}");
    }

    #[test]
    fn nested_aliases_count_up() {
        assert_eq!(crate::emit::nested_alias("g3"), "g3_x1");
        assert_eq!(crate::emit::nested_alias("g3_x1"), "g3_x2");
        assert_eq!(crate::emit::nested_alias("pgrst_t_0_t"), "pgrst_t_0_t_x1");
    }
}
