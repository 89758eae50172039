//! Plan stage for RPC: the arguments (query string, JSON object, single unnamed parameter or
//! form body) matched to the function overload, how it is invoked, and how its result becomes
//! rows (set, scalar, record, void) or a raw media type.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use bytes::Bytes;
use pgbase_catalog::{ReturnShape, Volatility};
use pgbase_sql::emit::BodyShape;
use pgbase_sql::plan::{CallArgs, ReadPlan, SelectExpr, Source, WholeBodyType};
use serde_json::Value;

use crate::error::ApiError;
use crate::media::MediaType;
use crate::payload::{Payload, parse_payload};
use crate::plan::{self, PlanContext};
use crate::preferences::PreferParams;
use crate::range::RowRange;
use crate::request::{ApiRequest, InvokeMethod};

use super::{
    ActionPlan, BodyPlan, Kind, Prepared, RawMedia, ResponsePlan, body_shape, bytes_into_string,
    first_array_element, select_or_star, strip_nulls,
};

/// An RPC: the function chosen by name and arguments, the call, and the read of its result.
pub(super) fn prepare_call(
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
