//! The write emitter, shared by REST and GraphQL: a [`WritePlan`] becomes the CTEs of a
//! statement, ending with `pgrst_source as (…)`, the rows the write hands on. Each front end
//! puts its own output around them (REST: [`crate::emit::statement`]; GraphQL: the mutation
//! response object in [`crate::emit_graph`]).
//!
//! The written table is always aliased `pgrst_t`, so filters, order terms and `on conflict`
//! conditions are the read emitter's (`crate::emit::condition`). Values come from a JSON
//! payload — REST's request body, one bind parameter however many rows it holds, read with
//! `json_populate_record` into `pgrst_body` — or are bind parameters of their own (GraphQL
//! arguments). A bounded update or delete (`limit`/`offset`) picks its rows by `ctid` in
//! order; GraphQL's `atMost` is a check on the affected count made by the executor instead.

use crate::Snippet;
use crate::emit::{ROOT_ALIAS, condition, order_terms};
use crate::plan::*;

/// The CTEs of a write, ending with `pgrst_source` (the affected rows). The plan is consumed:
/// its payload (the whole request body) and values become bind parameters without a copy.
pub fn write_ctes(plan: WritePlan) -> Snippet {
    let WritePlan {
        schema,
        table,
        write,
        payload,
        returning,
        representations,
    } = plan;
    let table = Snippet::qualified(&schema, &table);
    // The payload CTE: present when the plan has a JSON document or a value reads one (then
    // SQL null, as a request without a body).
    let json = match payload {
        PayloadSource::Json(body) => Some(body),
        PayloadSource::Params if reads_payload(&write) => Some(None),
        PayloadSource::Params => None,
    };
    let mut s = Snippet::new();
    let has_json = json.is_some();
    if let Some(body) = json {
        s.push_sql("pgrst_payload as (select ");
        match body {
            Some(body) => s.push(Snippet::param(body)).push_sql("::json as j), "),
            None => s.push_sql("null::json as j), "),
        };
    }
    let w = Written {
        table,
        returning,
        representations,
    };
    match write {
        Write::Insert {
            columns,
            rows: InsertRows::Payload { groups },
            on_conflict,
        } => s.push(w.insert_payload(columns, groups, on_conflict.as_ref())),
        Write::Insert {
            columns,
            rows: InsertRows::Values(rows),
            on_conflict,
        } => s.push(w.insert_values(&columns, rows, on_conflict.as_ref())),
        Write::Update {
            set,
            filter,
            order,
            limit,
            offset,
        } => s.push(w.update(has_json, set, &filter, &order, limit, offset)),
        Write::Delete {
            filter,
            order,
            limit,
            offset,
        } => s
            .push_sql("pgrst_source as (delete from ")
            .push(w.table.clone())
            .push_sql(" as ")
            .push_ident(ROOT_ALIAS)
            .push(write_where(&w.table, &filter, &order, limit, offset))
            .push(write_returning(&w.returning))
            .push_sql(")"),
    };
    s
}

/// Whether a value of the write is read from the JSON payload.
fn reads_payload(write: &Write) -> bool {
    match write {
        Write::Insert { rows, .. } => matches!(rows, InsertRows::Payload { .. }),
        Write::Update { set, .. } => set.iter().any(|(_, v)| *v == SetValue::Payload),
        Write::Delete { .. } => false,
    }
}

/// What every kind of write needs: the table and what it returns.
struct Written {
    table: Snippet,
    returning: WriteReturning,
    representations: Vec<Representation>,
}

impl Written {
    /// An insert of the payload's elements: `pgrst_body` numbers them, one insert per group
    /// (`pgrst_w0`, …) returns each row, `pgrst_written` unites them (REST counts inserted
    /// vs updated rows there) and `pgrst_source` hands on what `returning` asks for.
    fn insert_payload(
        &self,
        columns: Vec<String>,
        groups: Vec<InsertGroup>,
        on_conflict: Option<&OnConflict>,
    ) -> Snippet {
        let mut s = Snippet::sql("pgrst_body as (select pgrst_e.n as pgrst_n, ");
        if !self.representations.is_empty() {
            s.push_sql("pgrst_e.v as pgrst_v, ");
        }
        s.push_sql(
            "pgrst_r from json_array_elements(\
             (select case when json_typeof(j) = 'array' then j else json_build_array(j) end \
             from pgrst_payload)) with ordinality as pgrst_e(v, n), \
             lateral json_populate_record(null::",
        )
        .push(self.table.clone())
        .push_sql(", ")
        .push(without_representations(
            Snippet::sql("pgrst_e.v"),
            &self.representations,
        ))
        .push_sql(") as pgrst_r), ");
        let groups = if groups.is_empty() {
            vec![InsertGroup {
                columns,
                positions: String::new(),
            }]
        } else {
            groups
        };
        let mut parts = Vec::new();
        for (index, group) in groups.into_iter().enumerate() {
            let name = format!("pgrst_w{index}");
            s.push_ident(&name).push_sql(" as (");
            s.push(self.insert_group(group, on_conflict));
            s.push_sql("), ");
            let mut part = Snippet::sql("select * from ");
            part.push_ident(&name);
            parts.push(part);
        }
        s.push_sql("pgrst_written as (")
            .push(Snippet::join(parts, " union all "))
            .push_sql("), pgrst_source as (select ");
        match &self.returning {
            WriteReturning::Rows => s.push_sql("(pgrst_row).*"),
            WriteReturning::Columns(keys) if !keys.is_empty() => s.push(quoted_list(keys)),
            WriteReturning::Count | WriteReturning::Columns(_) => s.push_sql("pgrst_one"),
        };
        s.push_sql(" from pgrst_written)");
        s
    }

    /// One `insert … select … from pgrst_body [where position] [on conflict …] returning` over
    /// the body elements at the group's positions (all when none), returning each row whole
    /// as `pgrst_row`, some columns, or a `1`.
    fn insert_group(&self, group: InsertGroup, on_conflict: Option<&OnConflict>) -> Snippet {
        let InsertGroup { columns, positions } = group;
        let mut s = Snippet::sql("insert into ");
        s.push(self.table.clone())
            .push_sql(" as ")
            .push_ident(ROOT_ALIAS);
        if !columns.is_empty() {
            s.push_sql(" (").push(quoted_list(&columns)).push_sql(")");
        }
        s.push_sql(" select ");
        s.push(Snippet::join(
            columns
                .iter()
                .map(|c| match representation(&self.representations, c) {
                    Some(r) => represented(r, Snippet::sql("pgrst_v")),
                    None => {
                        let mut v = Snippet::sql("(pgrst_r).");
                        v.push_ident(c);
                        v
                    }
                }),
            ", ",
        ));
        s.push_sql(" from pgrst_body");
        if !positions.is_empty() {
            s.push_sql(" where pgrst_n = any(")
                .push(Snippet::param(positions))
                .push_sql("::int8[])");
        }
        s.push(on_conflict_clause(on_conflict, &columns));
        match &self.returning {
            WriteReturning::Rows => {
                s.push_sql(" returning ")
                    .push_ident(ROOT_ALIAS)
                    .push_sql(" as pgrst_row");
            }
            WriteReturning::Columns(keys) if !keys.is_empty() => {
                s.push_sql(" returning ").push(returned_columns(keys));
            }
            WriteReturning::Count | WriteReturning::Columns(_) => {
                s.push_sql(" returning 1 as pgrst_one");
            }
        }
        s
    }

    /// `pgrst_source as (insert … values (…), (…) [on conflict …] returning …)`; rows without
    /// columns (or no rows) are rows of defaults: `select from generate_series(1, n)`.
    fn insert_values(
        &self,
        columns: &[String],
        rows: Vec<Vec<InsertValue>>,
        on_conflict: Option<&OnConflict>,
    ) -> Snippet {
        let mut s = Snippet::sql("pgrst_source as (insert into ");
        s.push(self.table.clone())
            .push_sql(" as ")
            .push_ident(ROOT_ALIAS);
        if columns.is_empty() || rows.is_empty() {
            s.push_sql(" select from generate_series(1, ")
                .push(Snippet::int(i64::try_from(rows.len()).unwrap_or(i64::MAX)))
                .push_sql(")");
        } else {
            s.push_sql(" (")
                .push(quoted_list(columns))
                .push_sql(") values ");
            s.push(Snippet::join(
                rows.into_iter().map(|row| {
                    let mut r = Snippet::sql("(");
                    r.push(Snippet::join(
                        row.into_iter().map(|v| match v {
                            InsertValue::Default => Snippet::sql("default"),
                            InsertValue::Value(Some(v)) => Snippet::param(v),
                            InsertValue::Value(None) => Snippet::null_param(),
                        }),
                        ", ",
                    ))
                    .push_sql(")");
                    r
                }),
                ", ",
            ));
        }
        s.push(on_conflict_clause(on_conflict, columns))
            .push(write_returning(&self.returning))
            .push_sql(")");
        s
    }

    /// `pgrst_source as (update … set … [from pgrst_body] where … returning …)`; with a JSON
    /// payload (`json`), `pgrst_body` is its one row. Nothing to set: no row is written.
    fn update(
        &self,
        json: bool,
        set: Vec<(String, SetValue)>,
        filter: &[Condition],
        order: &[OrderExpr],
        limit: Option<u64>,
        offset: u64,
    ) -> Snippet {
        let mut s = Snippet::new();
        if json {
            s.push_sql("pgrst_body as (select * from json_populate_record(null::")
                .push(self.table.clone())
                .push_sql(", (select ")
                .push(without_representations(
                    Snippet::sql("j"),
                    &self.representations,
                ))
                .push_sql(" from pgrst_payload))), ");
        }
        if set.is_empty() {
            // Nothing to set: PostgREST answers with no rows affected.
            let some_columns =
                matches!(&self.returning, WriteReturning::Columns(k) if !k.is_empty());
            if !self.returning.rows() && !some_columns {
                s.push_sql("pgrst_source as (select 1 as pgrst_one where false)");
                return s;
            }
            s.push_sql("pgrst_source as (select ");
            match &self.returning {
                WriteReturning::Columns(keys) if !keys.is_empty() => s.push(returned_columns(keys)),
                _ => s.push_ident(ROOT_ALIAS).push_sql(".*"),
            };
            s.push_sql(" from ")
                .push(self.table.clone())
                .push_sql(" as ")
                .push_ident(ROOT_ALIAS)
                .push_sql(" where false)");
            return s;
        }
        s.push_sql("pgrst_source as (update ")
            .push(self.table.clone())
            .push_sql(" as ")
            .push_ident(ROOT_ALIAS)
            .push_sql(" set ");
        s.push(Snippet::join(
            set.into_iter().map(|(c, v)| {
                let mut set = Snippet::ident(&c);
                set.push_sql(" = ");
                match v {
                    SetValue::Payload => match representation(&self.representations, &c) {
                        Some(r) => set.push(represented(
                            r,
                            Snippet::sql("(select j from pgrst_payload)"),
                        )),
                        None => set.push_sql("pgrst_body.").push_ident(&c),
                    },
                    SetValue::Default => set.push_sql("default"),
                    SetValue::Value(Some(v)) => set.push(Snippet::param(v)),
                    SetValue::Value(None) => set.push(Snippet::null_param()),
                };
                set
            }),
            ", ",
        ));
        if json {
            s.push_sql(" from pgrst_body");
        }
        s.push(write_where(&self.table, filter, order, limit, offset))
            .push(write_returning(&self.returning))
            .push_sql(")");
        s
    }
}

/// ` on conflict (…) do …` of an insert naming `columns`; nothing without conflict columns (a
/// table without a primary key and no `on_conflict`: a duplicate is still a 409, as in
/// PostgREST).
fn on_conflict_clause(on_conflict: Option<&OnConflict>, columns: &[String]) -> Snippet {
    let Some(oc) = on_conflict.filter(|oc| !oc.columns.is_empty()) else {
        return Snippet::new();
    };
    let mut s = Snippet::sql(" on conflict (");
    s.push(quoted_list(&oc.columns)).push_sql(")");
    let (targets, filter): (Vec<&String>, &[Condition]) = match &oc.action {
        ConflictAction::DoNothing => (Vec::new(), &[]),
        ConflictAction::Merge => {
            let updatable: Vec<&String> =
                columns.iter().filter(|c| !oc.columns.contains(c)).collect();
            let targets = if updatable.is_empty() {
                columns.iter().collect()
            } else {
                updatable
            };
            (targets, &[])
        }
        ConflictAction::Update { columns, filter } => (columns.iter().collect(), filter),
    };
    if targets.is_empty() {
        s.push_sql(" do nothing");
        return s;
    }
    s.push_sql(" do update set ");
    s.push(Snippet::join(
        targets.into_iter().map(|c| {
            let mut set = Snippet::ident(c);
            set.push_sql(" = excluded.").push_ident(c);
            set
        }),
        ", ",
    ));
    if matches!(oc.action, ConflictAction::Merge) {
        // Count the updated rows in a transaction-local setting (PostgREST's
        // `pgrst.inserted`): no `xmax`, which views and partitioned tables do not have and
        // which needs the SELECT privilege.
        s.push_sql(
            " where set_config('pgrst.updated', (coalesce(nullif(current_setting(\
             'pgrst.updated', true), '')::int8, 0) + 1)::text, true) is not null",
        );
    } else if !filter.is_empty() {
        s.push_sql(" where ").push(Snippet::join(
            filter.iter().map(|c| condition(c, ROOT_ALIAS)),
            " and ",
        ));
    }
    s
}

/// `json` without the keys of the data-representation columns (`(json::jsonb - $1 - …)::json`),
/// for `json_populate_record`, which would read their values with the type's text input; the
/// unchanged `json` when the table has none.
fn without_representations(json: Snippet, representations: &[Representation]) -> Snippet {
    if representations.is_empty() {
        return json;
    }
    let mut s = Snippet::sql("(");
    s.push(json).push_sql("::jsonb");
    for r in representations {
        s.push_sql(" - ")
            .push(Snippet::param(r.column.as_str()))
            .push_sql("::text");
    }
    s.push_sql(")::json");
    s
}

fn representation<'a>(
    representations: &'a [Representation],
    column: &str,
) -> Option<&'a Representation> {
    representations.iter().find(|r| r.column == column)
}

/// `schema.function(json -> 'column')`: a body value through its data-representation function.
fn represented(r: &Representation, json: Snippet) -> Snippet {
    let mut s = Snippet::qualified(&r.schema, &r.function);
    s.push_sql("(")
        .push(json)
        .push_sql(" -> ")
        .push(Snippet::param(r.column.as_str()))
        .push_sql("::text)");
    s
}

/// ` returning …` of an update, a delete or an insert of values: whole rows, some columns, or
/// a `1` per row to count them.
fn write_returning(returning: &WriteReturning) -> Snippet {
    match returning {
        WriteReturning::Rows => {
            let mut s = Snippet::sql(" returning ");
            s.push_ident(ROOT_ALIAS).push_sql(".*");
            s
        }
        WriteReturning::Columns(keys) if !keys.is_empty() => {
            let mut s = Snippet::sql(" returning ");
            s.push(returned_columns(keys));
            s
        }
        WriteReturning::Count | WriteReturning::Columns(_) => {
            Snippet::sql(" returning 1 as pgrst_one")
        }
    }
}

/// `"a", "b"`.
fn quoted_list(columns: &[String]) -> Snippet {
    Snippet::join(columns.iter().map(|c| Snippet::ident(c)), ", ")
}

/// `pgrst_t."a" as "a", …`.
fn returned_columns(columns: &[String]) -> Snippet {
    Snippet::join(
        columns.iter().map(|c| {
            let mut s = Snippet::ident(ROOT_ALIAS);
            s.push_sql(".").push_ident(c).push_sql(" as ").push_ident(c);
            s
        }),
        ", ",
    )
}

/// ` where …` of an update or delete; with `limit`, the rows are picked by ctid in order.
fn write_where(
    table: &Snippet,
    filter: &[Condition],
    order: &[OrderExpr],
    limit: Option<u64>,
    offset: u64,
) -> Snippet {
    if limit.is_none() && offset == 0 {
        if filter.is_empty() {
            return Snippet::new();
        }
        let mut s = Snippet::sql(" where ");
        s.push(Snippet::join(
            filter.iter().map(|c| condition(c, ROOT_ALIAS)),
            " and ",
        ));
        return s;
    }
    let inner_alias = "pgrst_pick";
    let mut s = Snippet::sql(" where ");
    s.push_ident(ROOT_ALIAS)
        .push_sql(".ctid = any(array(select ")
        .push_ident(inner_alias)
        .push_sql(".ctid from ")
        .push(table.clone())
        .push_sql(" as ")
        .push_ident(inner_alias);
    if !filter.is_empty() {
        s.push_sql(" where ").push(Snippet::join(
            filter.iter().map(|c| condition(c, inner_alias)),
            " and ",
        ));
    }
    if !order.is_empty() {
        s.push_sql(" order by ")
            .push(order_terms(order, inner_alias));
    }
    if let Some(limit) = limit {
        s.push_sql(" limit ")
            .push(Snippet::int(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    if offset > 0 {
        s.push_sql(" offset ")
            .push(Snippet::int(i64::try_from(offset).unwrap_or(i64::MAX)));
    }
    s.push_sql("))");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(
        table: &str,
        write: Write,
        payload: PayloadSource,
        returning: WriteReturning,
    ) -> WritePlan {
        WritePlan {
            schema: "public".into(),
            table: table.into(),
            write,
            payload,
            returning,
            representations: Vec::new(),
        }
    }

    fn payload_insert(columns: &[&str], on_conflict: Option<OnConflict>) -> Write {
        Write::Insert {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: InsertRows::Payload { groups: Vec::new() },
            on_conflict,
        }
    }

    fn id_is(value: &str) -> Condition {
        Condition::Compare {
            column: ColumnRef::new("id"),
            op: "=",
            operand: Operand::Value(value.into()),
        }
    }

    #[test]
    fn represented_columns_go_through_their_cast_function() {
        let rgb = vec![Representation {
            column: "shade".into(),
            schema: "public".into(),
            function: "rgb".into(),
        }];
        let mut update = plan(
            "swatches",
            Write::Update {
                set: vec![
                    ("name".into(), SetValue::Payload),
                    ("shade".into(), SetValue::Payload),
                ],
                filter: Vec::new(),
                order: Vec::new(),
                limit: None,
                offset: 0,
            },
            PayloadSource::Json(Some("{}".into())),
            WriteReturning::Count,
        );
        update.representations = rgb.clone();
        let (sql, params) = write_ctes(update).render();
        assert!(sql.contains("(j::jsonb - $2::text)::json"), "{sql}");
        assert!(
            sql.contains(
                "\"shade\" = \"public\".\"rgb\"((select j from pgrst_payload) -> $3::text)"
            ),
            "{sql}"
        );
        assert!(sql.contains("\"name\" = pgrst_body.\"name\""), "{sql}");
        assert_eq!(params.len(), 3);
        let mut insert = plan(
            "swatches",
            payload_insert(&["shade"], None),
            PayloadSource::Json(Some("[]".into())),
            WriteReturning::Count,
        );
        insert.representations = rgb;
        let (sql, _) = write_ctes(insert).render();
        assert!(sql.contains("pgrst_e.v as pgrst_v"), "{sql}");
        assert!(sql.contains("\"public\".\"rgb\"(pgrst_v -> $"), "{sql}");
    }

    #[test]
    fn count_only_writes_return_no_row_data() {
        let insert = |returning, on_conflict| {
            plan(
                "contact",
                payload_insert(&["email"], on_conflict),
                PayloadSource::Json(Some("[]".into())),
                returning,
            )
        };
        let (sql, _) = write_ctes(insert(WriteReturning::Count, None)).render();
        assert!(sql.contains("returning 1 as pgrst_one"), "{sql}");
        assert!(!sql.contains("xmax") && !sql.contains("pgrst_row"), "{sql}");
        let (sql, _) = write_ctes(insert(WriteReturning::Rows, None)).render();
        assert!(sql.contains("\"pgrst_t\" as pgrst_row"), "{sql}");
        // headers-only: the primary key alone, for the Location header
        let (sql, _) =
            write_ctes(insert(WriteReturning::Columns(vec!["id".into()]), None)).render();
        assert!(
            sql.contains("returning \"pgrst_t\".\"id\" as \"id\")"),
            "{sql}"
        );
        assert!(
            sql.contains("pgrst_source as (select \"id\" from pgrst_written)"),
            "{sql}"
        );
        let merge = || {
            Some(OnConflict {
                columns: vec!["email".to_string()],
                action: ConflictAction::Merge,
            })
        };
        // an upsert counts its updated rows in a setting instead of reading xmax
        let (sql, _) = write_ctes(insert(WriteReturning::Count, merge())).render();
        assert!(sql.contains("set_config('pgrst.updated'"), "{sql}");
        assert!(!sql.contains("xmax"), "{sql}");
        // so does one returning rows: views and partitioned tables have no xmax
        let (sql, _) = write_ctes(insert(WriteReturning::Rows, merge())).render();
        assert!(sql.contains("set_config('pgrst.updated'"), "{sql}");
        assert!(sql.contains("returning \"pgrst_t\" as pgrst_row)"), "{sql}");
        assert!(!sql.contains("xmax"), "{sql}");
        for write in [
            Write::Delete {
                filter: Vec::new(),
                order: Vec::new(),
                limit: None,
                offset: 0,
            },
            Write::Update {
                set: vec![("email".into(), SetValue::Payload)],
                filter: Vec::new(),
                order: Vec::new(),
                limit: None,
                offset: 0,
            },
        ] {
            let plan = plan(
                "contact",
                write,
                PayloadSource::Json(Some("{}".into())),
                WriteReturning::Count,
            );
            let (sql, _) = write_ctes(plan).render();
            assert!(sql.ends_with(" returning 1 as pgrst_one)"), "{sql}");
            assert!(!sql.contains(".*"), "{sql}");
        }
    }

    #[test]
    fn values_are_bind_parameters_without_a_payload() {
        let insert = plan(
            "films",
            Write::Insert {
                columns: vec!["title".into(), "year".into()],
                rows: InsertRows::Values(vec![
                    vec![InsertValue::Value(Some("A".into())), InsertValue::Default],
                    vec![
                        InsertValue::Value(None),
                        InsertValue::Value(Some("1999".into())),
                    ],
                ]),
                on_conflict: Some(OnConflict {
                    columns: vec!["title".into()],
                    action: ConflictAction::Update {
                        columns: vec!["year".into()],
                        filter: vec![id_is("7")],
                    },
                }),
            },
            PayloadSource::Params,
            WriteReturning::Columns(vec!["id".into()]),
        );
        let (sql, params) = write_ctes(insert).render();
        assert_eq!(
            sql,
            "pgrst_source as (insert into \"public\".\"films\" as \"pgrst_t\" (\"title\", \"year\") \
             values ($1, default), ($2, $3) on conflict (\"title\") do update set \"year\" = \
             excluded.\"year\" where \"pgrst_t\".\"id\" = $4 returning \"pgrst_t\".\"id\" as \"id\")"
        );
        assert_eq!(params.len(), 4);
        assert_eq!(params[1].0, None);
        // rows without columns are rows of defaults
        let defaults = plan(
            "films",
            Write::Insert {
                columns: Vec::new(),
                rows: InsertRows::Values(vec![Vec::new(), Vec::new()]),
                on_conflict: None,
            },
            PayloadSource::Params,
            WriteReturning::Rows,
        );
        let (sql, _) = write_ctes(defaults).render();
        assert_eq!(
            sql,
            "pgrst_source as (insert into \"public\".\"films\" as \"pgrst_t\" select from \
             generate_series(1, 2) returning \"pgrst_t\".*)"
        );
        // an update of parameters reads no payload; one of payload values does
        let update = |value, payload| {
            plan(
                "films",
                Write::Update {
                    set: vec![("title".into(), value)],
                    filter: vec![id_is("1")],
                    order: Vec::new(),
                    limit: None,
                    offset: 0,
                },
                payload,
                WriteReturning::Rows,
            )
        };
        let (sql, _) = write_ctes(update(
            SetValue::Value(Some("B".into())),
            PayloadSource::Params,
        ))
        .render();
        assert_eq!(
            sql,
            "pgrst_source as (update \"public\".\"films\" as \"pgrst_t\" set \"title\" = $1 \
             where \"pgrst_t\".\"id\" = $2 returning \"pgrst_t\".*)"
        );
        let (sql, _) = write_ctes(update(SetValue::Payload, PayloadSource::Params)).render();
        assert!(
            sql.starts_with("pgrst_payload as (select null::json as j), pgrst_body as ("),
            "{sql}"
        );
        assert!(sql.contains(" from pgrst_body where "), "{sql}");
    }

    #[test]
    fn a_bounded_delete_picks_its_rows_by_ctid_in_order() {
        let delete = plan(
            "films",
            Write::Delete {
                filter: vec![id_is("3")],
                order: vec![OrderExpr {
                    target: OrderTarget::Column(ColumnRef::new("id")),
                    descending: true,
                    nulls: None,
                }],
                limit: Some(2),
                offset: 1,
            },
            PayloadSource::Params,
            WriteReturning::Count,
        );
        let (sql, _) = write_ctes(delete).render();
        assert!(sql.starts_with("pgrst_source as (delete from"), "{sql}");
        assert!(
            sql.contains(
                "where \"pgrst_t\".ctid = any(array(select \"pgrst_pick\".ctid from \
                 \"public\".\"films\" as \"pgrst_pick\" where \"pgrst_pick\".\"id\" = $1 order by"
            ),
            "{sql}"
        );
        assert!(sql.contains(" limit 2 offset 1))"), "{sql}");
    }
}
