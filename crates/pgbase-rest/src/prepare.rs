//! REST pipeline, stage 2 — plan: a parsed [`ApiRequest`] resolved against the schema cache into
//! a plan value, [`Prepared`]. It holds the plans on the shared tree (`pgbase_sql::plan`) that
//! [`crate::statement`] renders, the transaction mode, and what [`crate::respond`] needs to turn
//! the result into a response. No I/O and no SQL text; every client mistake is an [`ApiError`].
//!
//! One pass per action: [`prepare_read`] (GET/HEAD on a table or view), [`prepare_write`]
//! (POST/PUT/PATCH/DELETE) and [`prepare_call`] (RPC).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use bytes::Bytes;
use pgbase_catalog::{ReturnShape, Volatility};
use pgbase_sql::emit::BodyShape;
use pgbase_sql::plan::{
    CallArgs, CallPlan, ConflictAction, OnConflict, PayloadSource, ReadPlan, SelectExpr, SetValue,
    Source, WholeBodyType, Write, WritePlan, WriteReturning,
};
use serde_json::Value;

use crate::ast::{Operation, OrderTarget, QuantOperator, SelectItem};
use crate::error::ApiError;
use crate::media::MediaType;
use crate::payload::{Payload, parse_payload};
use crate::plan::{self, PlanContext};
use crate::preferences::{
    PreferCount, PreferMissing, PreferParams, PreferResolution, PreferReturn,
};
use crate::range::RowRange;
use crate::request::{Action, ApiRequest, InvokeMethod, Mutation};

/// What a request plans to: the statement's plans, its transaction mode and how its result
/// becomes a response.
pub(crate) struct Prepared {
    /// The plans the main statement is built from.
    pub(crate) action: ActionPlan,
    /// Runs in a read-only transaction.
    pub(crate) read_only: bool,
    /// How the result becomes a response.
    pub(crate) response: ResponsePlan,
}

/// The plans of one request's main statement, per kind of action.
pub(crate) enum ActionPlan {
    /// A read of a table or view.
    Read {
        root: ReadPlan,
        count: Option<PreferCount>,
        /// `db-max-rows` (`count=estimated` is exact up to it).
        max_rows: Option<u64>,
        body: BodyPlan,
    },
    /// An insert, upsert, update or delete.
    Write {
        write: WritePlan,
        /// The representation read back from the written rows; `None` without
        /// `return=representation`.
        returning: Option<ReadPlan>,
        /// Primary-key columns for the `Location` header, in the table's column order.
        location_columns: Vec<String>,
        /// The statement reports how many rows were inserted (vs updated).
        inserted: bool,
        /// An exact count was asked for.
        count: bool,
        body: BodyPlan,
    },
    /// A function call.
    Call {
        call: CallPlan,
        /// The rows of the result the body is built from.
        rows: ReadPlan,
        /// The count counts the function's rows (a scalar or record result), not `rows`.
        count_source: bool,
        /// An exact count was asked for.
        count: bool,
        body: BodyPlan,
    },
}

/// The body Postgres builds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyPlan {
    pub(crate) shape: BodyShape,
    /// `nulls=stripped`.
    pub(crate) strip_nulls: bool,
}

/// What the response stage needs to know of the plan.
pub(crate) struct ResponsePlan {
    pub(crate) kind: Kind,
    /// `count=estimated`: the exact count is trusted up to this many rows.
    pub(crate) estimate_above: Option<u64>,
    /// A function's scalar result sent raw in this media type instead of JSON.
    pub(crate) raw_media: Option<RawMedia>,
}

/// A raw response media type chosen for a function's scalar result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawMedia {
    /// The `Content-Type` sent.
    pub(crate) content_type: String,
    /// The result is bytea (sent as its bytes).
    pub(crate) bytes: bool,
}

/// The kind of response a request gets (status, `Content-Range`, body or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read {
        head: bool,
    },
    Create {
        representation: bool,
        upsert: bool,
        /// `Prefer: resolution=` given but without effect: no `on_conflict` and no primary
        /// key (PostgREST then leaves it out of `Preference-Applied`).
        resolution_ignored: bool,
    },
    Put {
        representation: bool,
    },
    Modify {
        representation: bool,
        patch: bool,
    },
    Call {
        void: bool,
        head: bool,
    },
}

/// Plans `request` (with its `body`) against the schema cache in `ctx`.
pub(crate) fn prepare(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    body: Bytes,
    safe_update: bool,
) -> Result<Prepared, ApiError> {
    match &request.action {
        Action::RelationRead {
            relation,
            headers_only,
        } => prepare_read(ctx, request, relation, *headers_only),
        Action::RelationMut { relation, mutation } => {
            prepare_write(ctx, request, relation, *mutation, body, safe_update)
        }
        Action::Routine { function, invoke } => prepare_call(ctx, request, function, *invoke, body),
        _ => Err(ApiError::not_implemented("this request is not supported")),
    }
}

/// GET/HEAD on a table or view: the root read plan with its embeds, range and count.
fn prepare_read(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    relation: &str,
    headers_only: bool,
) -> Result<Prepared, ApiError> {
    let table = plan::find_table(ctx, relation).map_err(|error| {
        // PostgREST 12 looks for the relationships of embeds first: a relation the
        // cache does not have (a partition, say) has none.
        plan::embed_from_unknown_relation(ctx, relation, &request.query.select).unwrap_or(error)
    })?;
    let range = request.top_level_range.cap(ctx.max_rows);
    let root = plan::read_plan(
        ctx,
        table,
        Source::Table {
            schema: table.schema.clone(),
            name: table.name.clone(),
        },
        &select_or_star(&request.query.select),
        &request.query,
        &[],
        range,
    )?;
    let count = request.preferences.count;
    let estimate_above = (count == Some(PreferCount::Estimated))
        .then_some(ctx.max_rows)
        .flatten();
    Ok(Prepared {
        action: ActionPlan::Read {
            root,
            count,
            max_rows: ctx.max_rows,
            body: BodyPlan {
                // HEAD: no body is built only to be thrown away.
                shape: if headers_only {
                    BodyShape::None
                } else {
                    body_shape(request)
                },
                strip_nulls: strip_nulls(request),
            },
        },
        read_only: true,
        response: ResponsePlan {
            kind: Kind::Read { head: headers_only },
            estimate_above,
            raw_media: None,
        },
    })
}

/// POST/PUT/PATCH/DELETE on a table or view: the write, what it returns and the
/// representation read back from it.
fn prepare_write(
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

/// An RPC: the function chosen by name and arguments, the call, and the read of its result.
fn prepare_call(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    name: &str,
    invoke: InvokeMethod,
    body: Bytes,
) -> Result<Prepared, ApiError> {
    let via = call_via(invoke, &request.content_type);
    let single_object = request.preferences.params == Some(PreferParams::SingleObject);
    let input = call_input(request, invoke, via, body)?;
    // A JSON array body calls the function once, with the first element's arguments (as
    // PostgREST 12); a single unnamed json/jsonb parameter still receives the whole body. A
    // raw text/xml/bytea body names no arguments.
    let first_element = input.raw_body.as_deref().and_then(first_array_element);
    let json_args: Vec<(String, &serde_json::value::RawValue)> = match &input.raw_body {
        Some(raw) if input.text_args.is_empty() && !matches!(via, plan::CallVia::Raw(_)) => {
            serde_json::from_str::<JsonArgs<'_>>(first_element.as_deref().unwrap_or(raw))
                .map_or_else(|_| Vec::new(), |a| a.0)
        }
        _ => Vec::new(),
    };
    // `?columns=` names the body keys that are arguments; the others are ignored (v12)
    let json_args: Vec<_> = match request.query.columns.as_deref() {
        Some(columns) => json_args
            .into_iter()
            .filter(|(k, _)| columns.contains(k))
            .collect(),
        None => json_args,
    };
    let names: BTreeSet<String> = input
        .text_args
        .iter()
        .map(|(k, _)| k.clone())
        .chain(json_args.iter().map(|(k, _)| k.clone()))
        .collect();
    let function = plan::find_function(ctx, name, &names, single_object, via)?;
    let read = matches!(invoke, InvokeMethod::Read { .. });
    // As PostgREST: GET/HEAD run in a READ ONLY transaction, so a volatile function that writes
    // fails with 25006 (405) and one that does not write simply works.
    let inputs: Vec<_> = function.input_args().collect();
    let mut text_args = merge_repeated_args(&inputs, input.text_args);
    // The whole body as the only argument: any single json/jsonb parameter with
    // `Prefer: params=single-object`, or a single unnamed parameter of the body's kind.
    let whole = if single_object {
        inputs
            .first()
            .and_then(|a| WholeBodyType::from_type_name(&a.type_name))
    } else {
        plan::whole_body_parameter(function, via)
    };
    let type_of = |name: &str| {
        inputs
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .map_or("", |a| a.type_name.as_str())
    };
    let named: Vec<(String, Option<String>)> = if whole.is_some() {
        Vec::new()
    } else {
        json_args
            .iter()
            .map(|(k, v)| (k.clone(), plan::raw_json_arg_text(v, type_of(k))))
            .chain(text_args.drain(..).map(|(k, v)| (k, Some(v))))
            .collect()
    };
    drop(json_args);
    let call_args = match whole {
        Some(arg_type) => CallArgs::Whole {
            body: whole_body(
                arg_type,
                input.bytea_hex,
                text_args,
                input.raw_body,
                single_object,
            ),
            arg_type,
        },
        None => CallArgs::Named(named),
    };
    let call = plan::call_plan(function, call_args);
    let void = function.return_shape() == ReturnShape::Void;
    let result = call_result(ctx, request, function)?;
    let raw_media = raw_media(request, function, result.count_source)?;
    let shape = if raw_media.is_some() {
        BodyShape::Raw
    } else {
        result.shape
    };
    Ok(Prepared {
        action: ActionPlan::Call {
            call,
            rows: result.rows,
            count_source: result.count_source,
            count: request.preferences.should_count(),
            body: BodyPlan {
                shape: if void || input.head {
                    BodyShape::None
                } else {
                    shape
                },
                strip_nulls: strip_nulls(request),
            },
        },
        read_only: read || function.volatility != Volatility::Volatile,
        response: ResponsePlan {
            kind: Kind::Call {
                void,
                head: input.head,
            },
            estimate_above: None,
            raw_media,
        },
    })
}

/// How an RPC's arguments arrive, by method and `Content-Type`.
fn call_via(invoke: InvokeMethod, content_type: &MediaType) -> plan::CallVia {
    match (invoke, content_type) {
        (InvokeMethod::Read { .. }, _) => plan::CallVia::Arguments,
        (_, MediaType::Json) => plan::CallVia::Json,
        (_, MediaType::TextPlain) => plan::CallVia::Raw("text"),
        (_, MediaType::TextXml) => plan::CallVia::Raw("xml"),
        (_, MediaType::OctetStream) => plan::CallVia::Raw("bytea"),
        _ => plan::CallVia::Arguments,
    }
}

/// An RPC's arguments before the function is known.
struct CallInput {
    /// Query-string or form arguments (text).
    text_args: Vec<(String, String)>,
    /// The body as text (JSON, CSV converted to JSON, raw text/xml); `None` when blank.
    raw_body: Option<String>,
    /// A bytea body in bytea's hex text form.
    bytea_hex: Option<String>,
    /// HEAD: no body is sent.
    head: bool,
}

/// Reads an RPC's arguments from the query string (GET/HEAD) or the body (POST).
fn call_input(
    request: &ApiRequest,
    invoke: InvokeMethod,
    via: plan::CallVia,
    body: Bytes,
) -> Result<CallInput, ApiError> {
    // A bytea body goes to Postgres in bytea's hex text form; nothing else needs the bytes.
    let bytea_hex = (via == plan::CallVia::Raw("bytea")).then(|| {
        let mut hex = String::with_capacity(2 + body.len() * 2);
        hex.push_str("\\x");
        for byte in body.iter() {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    });
    // Query-string and form arguments are text; a JSON body's arguments are borrowed from the
    // body as raw JSON, so a large body is never built into a document (or copied) here.
    let (text_args, raw_body, head): (Vec<(String, String)>, Option<String>, bool) = match invoke {
        InvokeMethod::Read { headers_only } => (request.query.rpc_args.clone(), None, headers_only),
        InvokeMethod::Post => {
            let parsed = parse_payload(
                body.clone(),
                &request.content_type,
                &request.action,
                request.query.columns.as_deref(),
            )?;
            // A CSV body's rows, converted to JSON, name the arguments as a JSON body's do.
            let (pairs, converted) = match parsed.payload {
                Some(Payload::UrlEncoded { pairs, .. }) => (pairs, None),
                Some(Payload::Json { raw, .. })
                    if matches!(request.content_type, MediaType::Csv) =>
                {
                    (Vec::new(), Some(raw))
                }
                _ => (Vec::new(), None),
            };
            let raw = match (converted, &bytea_hex) {
                (Some(json), _) => bytes_into_string(json),
                (None, Some(_)) => String::new(),
                (None, None) => bytes_into_string(body),
            };
            (pairs, (!raw.trim().is_empty()).then_some(raw), false)
        }
    };
    Ok(CallInput {
        text_args,
        raw_body,
        bytea_hex,
        head,
    })
}

/// The text bound as a function's only (whole-body) argument.
fn whole_body(
    arg_type: WholeBodyType,
    bytea_hex: Option<String>,
    mut text_args: Vec<(String, String)>,
    raw_body: Option<String>,
    single_object: bool,
) -> String {
    match (arg_type, bytea_hex) {
        (WholeBodyType::Bytea, Some(hex)) => hex,
        // Arguments from the query string or a form: one object of their texts.
        _ if !text_args.is_empty() || (single_object && raw_body.is_none()) => {
            let object: serde_json::Map<String, Value> = text_args
                .drain(..)
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Value::Object(object).to_string()
        }
        (WholeBodyType::Json | WholeBodyType::Jsonb, _) => raw_body.unwrap_or_else(|| "{}".into()),
        _ => raw_body.unwrap_or_default(),
    }
}

/// The read of a function's result.
struct CallResult {
    /// The rows the body is built from.
    rows: ReadPlan,
    shape: BodyShape,
    /// A scalar or record result (no table to read it through): the count counts the
    /// function's rows.
    count_source: bool,
}

/// Reads a function's result: through its table (or its OUT parameters as one) with the
/// request's select, filters and range, or as scalars.
fn call_result(
    ctx: &PlanContext<'_>,
    request: &ApiRequest,
    function: &pgbase_catalog::Function,
) -> Result<CallResult, ApiError> {
    let shape = function.return_shape();
    let synthetic;
    let row_table = match &shape {
        ReturnShape::Relation(qname) => {
            Some(ctx.cache.table(&qname.schema, &qname.name).ok_or_else(|| {
                ApiError::not_implemented("the function's return table is not exposed")
            })?)
        }
        ReturnShape::Composite => {
            match function
                .return_type
                .relation
                .as_ref()
                .and_then(|r| ctx.cache.table(&r.schema, &r.name))
            {
                Some(table) if !function.has_out_args => Some(table),
                _ => {
                    synthetic = plan::output_table(function)?;
                    Some(&synthetic)
                }
            }
        }
        _ => None,
    };
    Ok(match row_table {
        Some(table) => {
            let range = if function.returns_set {
                request.top_level_range.cap(ctx.max_rows)
            } else {
                RowRange::default()
            };
            let plan = plan::read_plan(
                ctx,
                table,
                Source::Cte("pgrst_source"),
                &select_or_star(&request.query.select),
                &request.query,
                &[],
                range,
            )?;
            let shape = if !function.returns_set {
                BodyShape::Object
            } else {
                body_shape(request)
            };
            CallResult {
                rows: plan,
                shape,
                count_source: false,
            }
        }
        None => {
            let mut plan = ReadPlan::new(Source::Cte("pgrst_source"));
            plan.select.push(SelectExpr::Star);
            let shape = match (&shape, function.returns_set) {
                // An anonymous record is called in the select list (a column definition list
                // would be needed in `from`); its JSON keeps the names of its fields.
                (ReturnShape::Record, true) => match body_shape(request) {
                    BodyShape::Array => BodyShape::ScalarArray,
                    BodyShape::Object => BodyShape::Scalar,
                    other => other,
                },
                (ReturnShape::Record, false) => BodyShape::Scalar,
                (_, true) => BodyShape::ScalarArray,
                (_, false) => BodyShape::Scalar,
            };
            if function.returns_set {
                let range = request.top_level_range.cap(ctx.max_rows);
                plan.limit = range.limit;
                plan.offset = range.offset;
            }
            CallResult {
                rows: plan,
                shape,
                count_source: true,
            }
        }
    })
}

/// The raw media type for a function's result, as PostgREST 12 negotiates it once the function
/// is known: the first accepted type that is `text/plain`, `text/xml` or
/// `application/octet-stream` for a scalar result of type text, xml or bytea, or the name of
/// the domain the function returns (`create domain "image/png" as bytea`); `None` when an
/// accepted built-in type comes first; PGRST107 when nothing accepted can be produced.
fn raw_media(
    request: &ApiRequest,
    function: &pgbase_catalog::Function,
    scalar: bool,
) -> Result<Option<RawMedia>, ApiError> {
    const BYTEA: u32 = 17;
    let returned = &function.return_type;
    // `format_type` quotes (and may qualify) a domain named like a media type.
    let type_name = returned
        .name
        .trim_end_matches('"')
        .rsplit('"')
        .next()
        .unwrap_or("");
    let bytes = returned.base_oid == BYTEA;
    for accepted in &request.accept {
        if !request.media_deferred
            && (*accepted == request.media_type || *accepted == MediaType::Any)
        {
            return Ok(None);
        }
        let (wanted, content_type) = match accepted {
            MediaType::TextPlain => ("text", accepted.content_type()),
            MediaType::TextXml => ("xml", accepted.content_type()),
            MediaType::OctetStream => ("bytea", accepted.content_type()),
            MediaType::Other(mime) => (mime.as_str(), mime.clone()),
            _ => continue,
        };
        // the base type (`text` for text/plain) or, for a single value, a domain named after
        // the media type (`create domain "text/plain" as text`; a set of them is PGRST107)
        if scalar
            && (type_name.eq_ignore_ascii_case(wanted)
                || (!function.returns_set && type_name.eq_ignore_ascii_case(&accepted.mime())))
        {
            return Ok(Some(RawMedia {
                content_type,
                bytes,
            }));
        }
    }
    if request.media_deferred {
        let mimes: Vec<String> = request.accept.iter().map(MediaType::mime).collect();
        return Err(ApiError::media_type(&mimes));
    }
    Ok(None)
}

/// Query-string or form arguments with repeated keys merged as PostgREST 12 does: every value
/// of the `VARIADIC` parameter becomes one array (`?v=a&v=b` → `{a,b}`), any other repeated
/// parameter keeps its last value.
fn merge_repeated_args(
    inputs: &[&pgbase_catalog::FunctionArg],
    args: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let variadic = inputs
        .iter()
        .find(|a| a.mode == pgbase_catalog::ArgMode::Variadic)
        .and_then(|a| a.name.as_deref());
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut variadic_values: Vec<Value> = Vec::new();
    for (key, value) in args {
        if Some(key.as_str()) == variadic {
            variadic_values.push(Value::String(value));
        } else if let Some(slot) = merged.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            merged.push((key, value));
        }
    }
    if let Some(name) = variadic.filter(|_| !variadic_values.is_empty())
        && let Some(array) = plan::json_arg_text(&Value::Array(variadic_values), "text[]")
    {
        merged.push((name.to_string(), array));
    }
    merged
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

fn select_or_star(select: &[SelectItem]) -> Vec<SelectItem> {
    if select.is_empty() {
        vec![SelectItem::star()]
    } else {
        select.to_vec()
    }
}

/// The media type whose body is produced (the `for=` type of a plan request).
fn output_media(request: &ApiRequest) -> &MediaType {
    match &request.media_type {
        MediaType::Plan { for_type, .. } => for_type,
        other => other,
    }
}

fn body_shape(request: &ApiRequest) -> BodyShape {
    match output_media(request) {
        MediaType::Csv => BodyShape::Csv,
        m if m.is_singular() => BodyShape::Object,
        _ => BodyShape::Array,
    }
}

/// `nulls=stripped` was asked for.
fn strip_nulls(request: &ApiRequest) -> bool {
    matches!(
        output_media(request),
        MediaType::ArrayJsonStripped | MediaType::SingularJson { strip_nulls: true }
    )
}

/// The request body as the `String` bound to the statement: its buffer taken over when the
/// body holds the only reference to it, copied otherwise.
fn bytes_into_string(raw: Bytes) -> String {
    match String::from_utf8(Vec::from(raw)) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
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

/// The top-level members of a JSON object body, values left as raw JSON text; any other body
/// has none.
struct JsonArgs<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonArgs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Members<'a> {
            type Value = JsonArgs<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonArgs<'a>, A::Error> {
                let mut members: Vec<(String, &'a serde_json::value::RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: &'a serde_json::value::RawValue = map.next_value()?;
                    // a repeated key: the last one wins, as in a parsed object
                    members.retain(|(k, _)| *k != key);
                    members.push((key, value));
                }
                Ok(JsonArgs(members))
            }
        }
        d.deserialize_map(Members(std::marker::PhantomData))
    }
}

/// The text of the first element of a non-empty JSON array; `None` for anything else.
fn first_array_element(text: &str) -> Option<String> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    let elements: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
    elements.first().map(|e| e.get().to_string())
}
