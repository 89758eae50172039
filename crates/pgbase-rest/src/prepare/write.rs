//! Plan stage for POST/PUT/PATCH/DELETE: the request body read into a payload, the one write
//! plan (`pgbase_sql::plan::WritePlan`) with its filter, on-conflict and returning read, and
//! the checks PostgREST makes before writing (filtered PATCH/DELETE under safe update, PUT
//! filters naming the whole primary key).

use std::collections::BTreeSet;

use bytes::Bytes;
use pgbase_sql::emit::BodyShape;
use pgbase_sql::plan::{
    ConflictAction, OnConflict, PayloadSource, SetValue, Source, Write, WritePlan, WriteReturning,
};
use serde_json::Value;

use crate::ast::{Operation, OrderTarget, QuantOperator, SelectItem};
use crate::error::ApiError;
use crate::payload::{Payload, parse_payload};
use crate::plan::{self, PlanContext};
use crate::preferences::{PreferMissing, PreferResolution, PreferReturn};
use crate::range::RowRange;
use crate::request::{ApiRequest, Mutation};

use super::{
    ActionPlan, BodyPlan, Kind, Prepared, ResponsePlan, body_shape, bytes_into_string,
    first_array_element, select_or_star, strip_nulls,
};

/// POST/PUT/PATCH/DELETE on a table or view: the write, what it returns and the
/// representation read back from it.
pub(super) fn prepare_write(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    relation: &str,
    mutation: Mutation,
    body: Bytes,
    safe_update: bool,
) -> Result<Prepared, ApiError> {
    let table = plan::find_table(ctx, relation).map_err(|error| {
        // PostgREST 12 resolves `?columns` against the table first: a missing table
        // is then its bare 404 `{}`.
        if request.query.columns.is_some() {
            ApiError::not_found()
        } else {
            error
        }
    })?;
    let payload = write_payload(request, mutation, body)?;
    let columns = plan::check_payload_columns(table, &payload.columns)?;
    let representation = request.preferences.representation == Some(PreferReturn::Representation);
    let headers_only = request.preferences.representation == Some(PreferReturn::HeadersOnly);
    let mut write = write_plan(ctx, request, table, mutation, columns, payload)?;
    if safe_update {
        check_filtered(&write.write)?;
    }
    // Only what the response needs: rows for a body or a `Location`, else a count, which
    // needs no SELECT privilege (insert-only tables, PostgREST's `RETURNING 1`).
    let location = mutation == Mutation::Create && headers_only;
    write.returning = if representation {
        // Only the columns the response reads, so that a role with SELECT on some
        // columns can write and read those back (as PostgREST does).
        match narrowed_columns(table, &request.query) {
            Some(columns) => WriteReturning::Columns(columns),
            None => WriteReturning::Rows,
        }
    } else if location {
        WriteReturning::Columns(table.primary_key.clone())
    } else {
        WriteReturning::Count
    };
    // The root filters chose the written rows; only embed-level ones shape the output.
    let mut output_query = request.query.clone();
    output_query.filters.retain(|f| !f.path.is_empty());
    output_query.logic.retain(|l| !l.path.is_empty());
    let returning = plan::read_plan(
        ctx,
        table,
        Source::Cte("pgrst_source"),
        &select_or_star(&request.query.select),
        &output_query,
        &[],
        RowRange::default(),
    )?;
    // In the table's column order, as PostgREST lists them.
    let location_columns = if location {
        table
            .columns
            .iter()
            .filter(|c| table.primary_key.contains(&c.name))
            .map(|c| c.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let kind = match mutation {
        Mutation::Create => Kind::Create {
            representation,
            upsert: request.preferences.resolution == Some(PreferResolution::MergeDuplicates),
            resolution_ignored: request.preferences.resolution.is_some()
                && request.query.on_conflict.is_none()
                && table.primary_key.is_empty(),
        },
        Mutation::SingleUpsert => Kind::Put { representation },
        Mutation::Update => Kind::Modify {
            representation,
            patch: true,
        },
        Mutation::Delete => Kind::Modify {
            representation,
            patch: false,
        },
    };
    Ok(Prepared {
        action: ActionPlan::Write {
            write,
            returning: representation.then_some(returning),
            location_columns,
            inserted: matches!(mutation, Mutation::Create | Mutation::SingleUpsert),
            count: request.preferences.should_count(),
            body: BodyPlan {
                shape: if representation {
                    body_shape(request)
                } else {
                    BodyShape::None
                },
                strip_nulls: strip_nulls(request),
            },
        },
        read_only: false,
        response: ResponsePlan {
            kind,
            estimate_above: None,
            raw_media: None,
        },
    })
}

/// A write's body as the statement binds it, with the columns it names.
struct WritePayload {
    /// The body as JSON text (a form as one object); `None` without a body.
    text: Option<String>,
    /// Payload keys, or the `?columns=` list for raw JSON.
    columns: BTreeSet<String>,
    /// `Prefer: missing=default` applies (a raw JSON body).
    missing_default: bool,
}

/// Parses a write's body: JSON as it came (the first element of an array for PUT/PATCH), a
/// form as one JSON object.
fn write_payload(
    request: &ApiRequest,
    mutation: Mutation,
    body: Bytes,
) -> Result<WritePayload, ApiError> {
    let mut parsed = parse_payload(
        body,
        &request.content_type,
        &request.action,
        request.query.columns.as_deref(),
    )?;
    let missing_default = request.preferences.missing == Some(PreferMissing::Default)
        && matches!(parsed.payload, Some(Payload::RawJson { .. }));
    let body_text = match parsed.payload.take() {
        Some(Payload::Json { raw, .. } | Payload::RawJson { raw }) => Some(bytes_into_string(raw)),
        Some(Payload::UrlEncoded { pairs, .. }) => {
            let map: serde_json::Map<String, Value> = pairs
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Some(Value::Object(map).to_string())
        }
        _ => None,
    };
    // PUT and PATCH write one row's values: of a JSON array body PostgREST 12 takes the
    // first element (an empty array sets nothing).
    let text = match (mutation, body_text) {
        (Mutation::Update | Mutation::SingleUpsert, Some(text)) => {
            Some(first_array_element(&text).unwrap_or(text))
        }
        (_, body_text) => body_text,
    };
    Ok(WritePayload {
        text,
        columns: parsed.columns,
        missing_default,
    })
}

/// The write itself: an insert (with `on conflict` for upserts), an update or a delete of the
/// rows the root filters choose.
fn write_plan(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    table: &pgbase_catalog::Table,
    mutation: Mutation,
    columns: Vec<String>,
    payload: WritePayload,
) -> Result<WritePlan, ApiError> {
    let WritePayload {
        text: body_text,
        missing_default,
        ..
    } = payload;
    Ok(match mutation {
        Mutation::Create => {
            let on_conflict = request.preferences.resolution.map(|r| {
                let keys = request
                    .query
                    .on_conflict
                    .clone()
                    .unwrap_or_else(|| table.primary_key.clone());
                let action = match r {
                    PreferResolution::MergeDuplicates => ConflictAction::Merge,
                    PreferResolution::IgnoreDuplicates => ConflictAction::DoNothing,
                };
                OnConflict {
                    columns: keys,
                    action,
                }
            });
            if let Some(oc) = &on_conflict {
                plan::check_payload_columns(table, &oc.columns.iter().cloned().collect())?;
            }
            let body = body_text.unwrap_or_else(|| "[]".into());
            let groups = if missing_default {
                plan::missing_default_groups(&columns, &body)?
            } else {
                Vec::new()
            };
            plan::insert_plan(table, columns, body, on_conflict, groups)
        }
        Mutation::SingleUpsert => {
            check_put_filters(table, request, body_text.as_deref())?;
            plan::insert_plan(
                table,
                columns,
                body_text.unwrap_or_else(|| "{}".into()),
                Some(OnConflict {
                    columns: table.primary_key.clone(),
                    action: ConflictAction::Merge,
                }),
                Vec::new(),
            )
        }
        Mutation::Update => {
            let defaults = match (&body_text, missing_default) {
                (Some(body), true) => plan::missing_update_columns(&columns, body),
                _ => Vec::new(),
            };
            // The body's columns, then those it leaves out that take their DEFAULT.
            let mut set: Vec<_> = columns
                .into_iter()
                .filter(|c| !defaults.contains(c))
                .map(|c| (c, SetValue::Payload))
                .collect();
            set.extend(defaults.into_iter().map(|c| (c, SetValue::Default)));
            WritePlan {
                schema: table.schema.clone(),
                table: table.name.clone(),
                write: Write::Update {
                    set,
                    filter: plan::root_conditions(ctx, table, &request.query)?,
                    order: plan::root_order(ctx, table, &request.query)?,
                    limit: request.top_level_range.limit,
                    offset: request.top_level_range.offset,
                },
                payload: PayloadSource::Json(body_text),
                returning: WriteReturning::Rows,
                representations: plan::representations(table),
            }
        }
        Mutation::Delete => WritePlan {
            schema: table.schema.clone(),
            table: table.name.clone(),
            write: Write::Delete {
                filter: plan::root_conditions(ctx, table, &request.query)?,
                order: plan::root_order(ctx, table, &request.query)?,
                limit: request.top_level_range.limit,
                offset: request.top_level_range.offset,
            },
            payload: PayloadSource::Json(None),
            returning: WriteReturning::Rows,
            representations: Vec::new(),
        },
    })
}

/// The table columns a write's representation reads, when `select` names only plain columns
/// of the table (no `*`, embeds or aggregates) and the root order only such columns; `None`
/// when it needs whole rows.
fn narrowed_columns(
    table: &pgbase_catalog::Table,
    query: &crate::query::QueryParams,
) -> Option<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    let mut add = |name: &str| -> Option<()> {
        table.column(name)?;
        if !columns.iter().any(|c| c == name) {
            columns.push(name.to_string());
        }
        Some(())
    };
    if query.select.is_empty() {
        return None;
    }
    for item in &query.select {
        match item {
            SelectItem::Field(f) if !f.is_star() && f.aggregate.is_none() => add(&f.field.name)?,
            _ => return None,
        }
    }
    for order in query.order.iter().filter(|o| o.path.is_empty()) {
        for term in &order.terms {
            match &term.target {
                OrderTarget::Field(f) => add(&f.name)?,
                OrderTarget::Relation { .. } => return None,
            }
        }
    }
    Some(columns)
}

/// `db_safe_update`: an UPDATE or DELETE must have a filter on the target table (a `limit`
/// alone is none), as pg-safeupdate demands of the SQL. A PATCH with nothing to set updates
/// nothing and passes.
fn check_filtered(write: &Write) -> Result<(), ApiError> {
    match write {
        Write::Update { set, filter, .. } if filter.is_empty() && !set.is_empty() => {
            Err(ApiError::unfiltered_write("UPDATE"))
        }
        Write::Delete { filter, .. } if filter.is_empty() => {
            Err(ApiError::unfiltered_write("DELETE"))
        }
        _ => Ok(()),
    }
}

/// PUT needs `eq` filters on exactly the primary key, matching the body (PGRST105/115).
fn check_put_filters(
    table: &pgbase_catalog::Table,
    request: &ApiRequest,
    body: Option<&str>,
) -> Result<(), ApiError> {
    let mut filtered = BTreeSet::new();
    let mut values = Vec::new();
    for f in &request.query.filters {
        let is_eq = matches!(
            &f.filter.expr.operation,
            Operation::Quant {
                op: QuantOperator::Equal,
                quantifier: None,
                ..
            }
        );
        if !f.path.is_empty() || !is_eq || f.filter.expr.negated {
            return Err(ApiError::invalid_put_filters());
        }
        filtered.insert(f.filter.field.name.clone());
        if let Operation::Quant { value, .. } = &f.filter.expr.operation {
            values.push((f.filter.field.name.clone(), value.clone()));
        }
    }
    let pk: BTreeSet<String> = table.primary_key.iter().cloned().collect();
    if pk.is_empty() || filtered != pk || !request.query.logic.is_empty() {
        return Err(ApiError::invalid_put_filters());
    }
    let body: Value = body
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    for (column, value) in values {
        let matches = match body.get(&column) {
            Some(Value::String(s)) => *s == value,
            Some(Value::Null) | None => false,
            Some(other) => *other == Value::String(value.clone()) || other.to_string().eq(&value),
        };
        if !matches {
            return Err(ApiError::put_matching_pk());
        }
    }
    Ok(())
}
