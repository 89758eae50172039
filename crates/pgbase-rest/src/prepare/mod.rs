//! REST pipeline, stage 2 — plan: a parsed [`ApiRequest`] resolved against the schema cache into
//! a plan value, [`Prepared`]. It holds the plans on the shared tree (`pgbase_sql::plan`) that
//! [`crate::statement`] renders, the transaction mode, and what [`crate::respond`] needs to turn
//! the result into a response. No I/O and no SQL text; every client mistake is an [`ApiError`].
//!
//! One pass per action, each a module: [`read`] (GET/HEAD on a table or view), [`write`]
//! (POST/PUT/PATCH/DELETE) and [`call`] (RPC). This module holds the plan types they produce,
//! the dispatch between them and the small choices they share (body shape, media type).

mod call;
mod read;
mod write;

use bytes::Bytes;
use pgbase_sql::emit::BodyShape;
use pgbase_sql::plan::{CallPlan, ReadPlan, WritePlan};

use crate::ast::SelectItem;
use crate::error::ApiError;
use crate::media::MediaType;
use crate::plan::PlanContext;
use crate::preferences::PreferCount;
use crate::request::{Action, ApiRequest};

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
        } => read::prepare_read(ctx, request, relation, *headers_only),
        Action::RelationMut { relation, mutation } => {
            write::prepare_write(ctx, request, relation, *mutation, body, safe_update)
        }
        Action::Routine { function, invoke } => {
            call::prepare_call(ctx, request, function, *invoke, body)
        }
        _ => Err(ApiError::not_implemented("this request is not supported")),
    }
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

/// The text of the first element of a non-empty JSON array; `None` for anything else.
fn first_array_element(text: &str) -> Option<String> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    let elements: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
    elements.first().map(|e| e.get().to_string())
}
