//! The one executor below every front end (REST, GraphQL, and whatever comes next): a request's
//! statements run in one transaction on a [`Checkout`], with one transaction policy.
//!
//! The transaction starts read only for reads and read write otherwise, applies the shared
//! [`RequestContext`] prelude (role, claims, method, path, headers, cookies, search_path, the
//! role's own settings), calls the pre-request function if one is configured (it may change
//! the role, set `response.headers`/`response.status`, or raise to refuse the request), runs
//! the statements in order and ends as [`TxPolicy::end`] says —
//! unless a statement fails or the caller's check refuses a result (`atMost`, PostgREST's
//! max-affected and singular-object checks), which rolls everything back.
//!
//! Everything is pipelined: BEGIN, the prelude and every statement are sent at once, and a
//! read-only transaction that commits sends its COMMIT with them (one round trip; a read-only
//! transaction changes nothing, so its checks can run after it). A write waits for the results
//! and the checks, then commits or rolls back (two round trips). Errors are reported in
//! statement order: the first statement that failed, or the first result the check refused,
//! exactly as if the statements had run one after the other. The checkout is marked idle only
//! once no transaction is open; if the final ROLLBACK cannot be sent the checkout stays busy,
//! so dropping it closes the connection instead of returning it.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::{Checkout, PRELUDE, RequestContext};

/// How the transaction ends when every statement succeeded and every check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEnd {
    Commit,
    /// `Prefer: tx=rollback`, EXPLAIN ANALYZE of a write, an agent's dry run.
    Rollback,
}

/// The transaction policy of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPolicy {
    pub read_only: bool,
    pub end: TxEnd,
}

impl TxPolicy {
    /// A read that commits (one round trip).
    pub const READ: TxPolicy = TxPolicy {
        read_only: true,
        end: TxEnd::Commit,
    };
    /// A write that commits when its checks pass.
    pub const WRITE: TxPolicy = TxPolicy {
        read_only: false,
        end: TxEnd::Commit,
    };
}

/// One statement: SQL text (prepared and cached per connection) and its bind parameters.
pub struct Statement<'a> {
    pub sql: &'a str,
    pub params: Vec<&'a (dyn ToSql + Sync)>,
}

/// Why a transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum TxError<E> {
    /// Postgres refused a statement (or the connection failed).
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// The caller's check refused statement `index`'s result; the transaction was rolled back.
    #[error("{error}")]
    Check { index: usize, error: E },
}

/// Runs `statements` in one transaction as `context` under `policy`. `check(i, rows)` sees
/// each statement's rows in order, before a write commits; an error from it rolls back and is
/// returned. Returns every statement's rows.
pub async fn run<E: std::fmt::Display>(
    checkout: &Checkout,
    context: &RequestContext,
    policy: TxPolicy,
    statements: &[Statement<'_>],
    mut check: impl FnMut(usize, &[Row]) -> Result<(), E>,
) -> Result<Vec<Vec<Row>>, TxError<E>> {
    let client: &tokio_postgres::Client = checkout;
    let begin = if policy.read_only {
        "start transaction read only"
    } else {
        "start transaction read write"
    };
    let one_trip = policy.read_only && policy.end == TxEnd::Commit;
    // BEGIN and COMMIT are prepared (and cached per connection) like the statements, so
    // Postgres parses none of a request's statements again: each is a Bind/Execute.
    // The pre-request call (if any) first, then the statements.
    let texts: Vec<&str> = context
        .pre_request
        .as_deref()
        .into_iter()
        .chain(statements.iter().map(|statement| statement.sql))
        .collect();
    let (begin, prelude, commit, outside) = tokio::join!(
        checkout.prepare_cached(begin),
        checkout.prepare_cached(PRELUDE),
        async {
            match one_trip {
                true => checkout.prepare_cached("commit").await.map(Some),
                false => Ok(None),
            }
        },
        futures_util::future::join_all(texts.iter().map(|text| checkout.prepare_cached(text))),
    );
    let (begin, prelude, commit) = (begin?, prelude?, commit?);
    let prelude_params = context.prelude_params();
    // Statements are prepared before the transaction, on the connection's own search_path. A
    // name that exists only on the request's search_path (an operator of an extension in
    // `db_extra_search_path`, a pre-request function named without its schema) fails there,
    // so whatever failed is prepared again inside the transaction, after the prelude, under a
    // savepoint: more round trips, the first time a connection meets that statement
    // (afterwards it is cached, and Postgres resolves its names again whenever the search_path
    // differs). A statement that cannot be prepared even there fails where it stands: the ones
    // before it run (and may fail first), the ones after it do not.
    let mut ready = Vec::with_capacity(texts.len());
    let mut opened = false;
    let mut unpreparable = None;
    for (prepared, text) in outside.into_iter().zip(&texts) {
        if let Ok(prepared) = prepared {
            ready.push(prepared);
            continue;
        }
        if !opened {
            opened = true;
            let (begun, applied) = tokio::join!(
                client.execute(&begin, &[]),
                client.query_one(&prelude, &prelude_params),
            );
            if let Err(error) = begun.and(applied) {
                client.batch_execute("rollback").await?;
                checkout.mark_idle();
                return Err(TxError::Db(error));
            }
        }
        client.batch_execute("savepoint pgbase_prepare").await?;
        match checkout.prepare_cached(text).await {
            Ok(prepared) => {
                client
                    .batch_execute("release savepoint pgbase_prepare")
                    .await?;
                ready.push(prepared);
            }
            Err(error) => {
                client
                    .batch_execute("rollback to savepoint pgbase_prepare")
                    .await?;
                unpreparable = Some(error);
                break;
            }
        }
    }
    let pre_request = match context.pre_request {
        Some(_) if !ready.is_empty() => Some(ready.remove(0)),
        // the pre-request call itself could not be prepared: nothing runs
        Some(_) => None,
        None => None,
    };
    let queries = futures_util::future::join_all(
        ready
            .iter()
            .zip(statements)
            .map(|(prepared, statement)| client.query(prepared, &statement.params)),
    );
    let commit = async {
        match &commit {
            Some(commit) => client.execute(commit, &[]).await.map(|_| ()),
            None => Ok(()),
        }
    };
    // Every request of the pipeline is sent on the first poll, so even after an early error
    // the later ones are answered (an aborted transaction refuses them; its COMMIT — a
    // transaction-exit statement, which Postgres still binds there — rolls back).
    let (begun, applied, pre_requested, results, committed) = tokio::join!(
        async {
            match opened {
                true => Ok(()),
                false => client.execute(&begin, &[]).await.map(|_| ()),
            }
        },
        async {
            match opened {
                true => Ok(()),
                false => client
                    .query_one(&prelude, &prelude_params)
                    .await
                    .map(|_| ()),
            }
        },
        async {
            match &pre_request {
                Some(call) => client.query(call, &[]).await.map(|_| ()),
                None => Ok(()),
            }
        },
        queries,
        commit,
    );
    let started = begun.and(applied).and(pre_requested);
    let outcome =
        first_failure(started, results, committed, &mut check).and_then(
            |rows| match unpreparable {
                Some(error) => Err(TxError::Db(error)),
                None => Ok(rows),
            },
        );
    let end = match (&outcome, one_trip) {
        (_, true) => None,
        (Ok(_), false) if policy.end == TxEnd::Commit => Some("commit"),
        _ => Some("rollback"),
    };
    match end {
        Some(statement) => client.batch_execute(statement).await?,
        // a failed one-trip pipeline may still hold the transaction open if BEGIN succeeded
        // and COMMIT was refused; one more ROLLBACK is harmless outside a transaction
        None if outcome.is_err() => client.batch_execute("rollback").await?,
        None => {}
    }
    checkout.mark_idle();
    outcome
}

/// The first error in statement order, or every statement's rows.
fn first_failure<E>(
    started: Result<(), tokio_postgres::Error>,
    results: Vec<Result<Vec<Row>, tokio_postgres::Error>>,
    committed: Result<(), tokio_postgres::Error>,
    check: &mut impl FnMut(usize, &[Row]) -> Result<(), E>,
) -> Result<Vec<Vec<Row>>, TxError<E>> {
    started?;
    let mut out = Vec::with_capacity(results.len());
    for (index, result) in results.into_iter().enumerate() {
        let rows = result?;
        check(index, &rows).map_err(|error| TxError::Check { index, error })?;
        out.push(rows);
    }
    committed?;
    Ok(out)
}
