//! Plan stage for GET/HEAD on a table or view: the root read plan with its embeds, range,
//! count and body shape.

use pgbase_sql::emit::BodyShape;
use pgbase_sql::plan::Source;

use crate::error::ApiError;
use crate::plan::{self, PlanContext};
use crate::preferences::PreferCount;
use crate::request::ApiRequest;

use super::{
    ActionPlan, BodyPlan, Kind, Prepared, ResponsePlan, body_shape, select_or_star, strip_nulls,
};

/// GET/HEAD on a table or view: the root read plan with its embeds, range and count.
pub(super) fn prepare_read(
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
