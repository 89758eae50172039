//! REST pipeline, stage 3 — statement: a plan value ([`ActionPlan`]) rendered by the shared SQL
//! emitter (`pgbase_sql::emit`) into the ONE main statement a request runs (PostgREST's fixed
//! result columns: total, page total, body, response headers and status, location, inserted),
//! plus the count query behind `count=planned|estimated` and the `EXPLAIN` of a plan request.
//! No I/O; values stay bind parameters inside [`Snippet`]s.

use pgbase_sql::emit::{self, StatementOptions};
use pgbase_sql::emit_write;
use pgbase_sql::{Snippet, TextParam};

use crate::media::{PlanFormat, PlanOption};
use crate::preferences::PreferCount;
use crate::prepare::{ActionPlan, BodyPlan};

/// The SQL a request runs.
pub(crate) struct Statement {
    /// The main statement.
    pub(crate) main: Snippet,
    /// `main` rendered once: its text and bind parameters, as the executor sends them.
    pub(crate) sql: String,
    pub(crate) params: Vec<TextParam>,
    /// The count query to EXPLAIN for `count=planned|estimated`.
    pub(crate) count_plan: Option<Snippet>,
}

impl Statement {
    fn new(main: Snippet, count_plan: Option<Snippet>) -> Statement {
        let (sql, params) = main.render();
        Statement {
            main,
            sql,
            params,
            count_plan,
        }
    }
}

/// Renders a plan into its statement.
pub(crate) fn build(action: ActionPlan) -> Statement {
    match action {
        ActionPlan::Read {
            root,
            count,
            max_rows,
            body,
        } => {
            let (count, count_plan) = read_counts(&root, count, max_rows);
            let main = emit::statement(
                Snippet::new(),
                emit::read_rows(&root),
                body.shape,
                options(body, count, Vec::new(), false),
            );
            Statement::new(main, count_plan)
        }
        ActionPlan::Write {
            write,
            returning,
            location_columns,
            inserted,
            count,
            body,
        } => {
            let rows = match &returning {
                Some(returning) => emit::read_rows(returning),
                None => Snippet::sql("select 1 as pgrst_one from pgrst_source"),
            };
            let count = count.then(|| Snippet::sql("select 1 from pgrst_source"));
            let main = emit::statement(
                emit_write::write_ctes(write),
                rows,
                body.shape,
                options(body, count, location_columns, inserted),
            );
            Statement::new(main, None)
        }
        ActionPlan::Call {
            call,
            rows,
            count_source,
            count,
            body,
        } => {
            let count = count.then(|| {
                if count_source {
                    Snippet::sql("select 1 from pgrst_source")
                } else {
                    emit::read_count(&rows)
                }
            });
            let main = emit::statement(
                emit::call_cte(call),
                emit::read_rows(&rows),
                body.shape,
                options(body, count, Vec::new(), false),
            );
            Statement::new(main, None)
        }
    }
}

fn options(
    body: BodyPlan,
    count: Option<Snippet>,
    location_columns: Vec<String>,
    inserted: bool,
) -> StatementOptions {
    StatementOptions {
        count,
        location_columns,
        inserted,
        strip_nulls: body.strip_nulls,
    }
}

/// A read's exact count query (in the statement) and the count query to EXPLAIN, for
/// `count=exact|planned|estimated`.
fn read_counts(
    root: &pgbase_sql::plan::ReadPlan,
    count: Option<PreferCount>,
    max_rows: Option<u64>,
) -> (Option<Snippet>, Option<Snippet>) {
    match count {
        Some(PreferCount::Exact) => (Some(emit::read_count(root)), None),
        Some(PreferCount::Planned) => (None, Some(emit::read_count(root))),
        Some(PreferCount::Estimated) => match max_rows {
            // Exact up to db-max-rows, then the planner's estimate.
            Some(max) => {
                let mut limited = emit::read_count(root);
                limited.push_sql(" limit ").push(Snippet::int(
                    i64::try_from(max.saturating_add(1)).unwrap_or(i64::MAX),
                ));
                (Some(limited), Some(emit::read_count(root)))
            }
            None => (Some(emit::read_count(root)), None),
        },
        None => (None, None),
    }
}

/// `EXPLAIN (FORMAT …, options…) statement`; the options come from a fixed set.
pub(crate) fn explain(statement: &Snippet, format: PlanFormat, options: &[PlanOption]) -> Snippet {
    let mut s = Snippet::sql(match format {
        PlanFormat::Json => "explain (format json",
        PlanFormat::Text => "explain (format text",
    });
    for option in options {
        s.push_sql(match option {
            PlanOption::Analyze => ", analyze",
            PlanOption::Verbose => ", verbose",
            PlanOption::Settings => ", settings",
            PlanOption::Buffers => ", buffers",
            PlanOption::Wal => ", wal",
        });
    }
    s.push_sql(") ").push(statement.clone());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanContext;
    use crate::prepare::prepare;
    use crate::request::{RequestConfig, parse_request};
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method};

    /// `GET /authors` with `Prefer: count=…` against the golden fixture schema, rendered:
    /// (main SQL, whether a count query is EXPLAINed).
    fn read(count: Option<&str>, max_rows: Option<u64>) -> (String, bool) {
        let cache = pgbase_testkit::golden::schema_cache();
        let mut headers = HeaderMap::new();
        if let Some(count) = count {
            let prefer = format!("count={count}");
            headers.insert("prefer", HeaderValue::from_str(&prefer).expect("header"));
        }
        let config = RequestConfig::default();
        let request = parse_request(&config, &Method::GET, "/authors", None, &headers)
            .expect("a valid request");
        let ctx = PlanContext {
            cache: &cache,
            schema: &request.schema,
            max_rows,
        };
        let prepared = prepare(&ctx, &request, Bytes::new(), false).expect("a plan");
        let statement = build(prepared.action);
        (statement.main.render().0, statement.count_plan.is_some())
    }

    #[test]
    fn each_count_preference_puts_its_count_where_it_belongs() {
        let (plain, explained) = read(None, Some(100));
        assert!(!explained);
        // planned: the main statement counts nothing; the count query is EXPLAINed.
        let (planned, explained) = read(Some("planned"), Some(100));
        assert_eq!(planned, plain);
        assert!(explained);
        // exact: counted in the main statement.
        let (exact, explained) = read(Some("exact"), Some(100));
        assert_ne!(exact, plain);
        assert!(!explained);
        // estimated with db-max-rows: counted exactly up to max + 1 rows, and EXPLAINed.
        let (estimated, explained) = read(Some("estimated"), Some(100));
        assert_ne!(estimated, exact);
        assert!(estimated.contains(" limit 101"), "{estimated}");
        assert!(explained);
        // estimated without db-max-rows is exact.
        let (unlimited, explained) = read(Some("estimated"), None);
        assert_eq!(unlimited, read(Some("exact"), None).0);
        assert!(!explained);
    }

    #[test]
    fn explain_wraps_the_statement_with_the_chosen_options() {
        let (sql, _) = explain(
            &Snippet::sql("select 1"),
            PlanFormat::Text,
            &[PlanOption::Analyze, PlanOption::Buffers],
        )
        .render();
        assert_eq!(sql, "explain (format text, analyze, buffers) select 1");
    }
}
