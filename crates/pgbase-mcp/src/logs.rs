//! The `logs` tool: what went wrong recently. Failed cron runs (`cron.job_run_details`), failed
//! HTTP calls made from SQL (`net._http_response` with an error or a status ≥ 400), queue depths
//! with the oldest message's age (pgmq), and — when the server keeps them — the last failed API
//! requests, held in a small in-memory ring buffer ([`RequestLog`]) that the HTTP server feeds.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::conn::Connector;
use crate::query::QueryError;

/// How many failed requests the ring buffer keeps.
pub const REQUEST_LOG_SIZE: usize = 100;

/// A failed API request as the server saw it (no headers or bodies: they may carry tokens).
#[derive(Debug, Clone, Serialize)]
pub struct FailedRequest {
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: f64,
}

/// The last [`REQUEST_LOG_SIZE`] failed requests (status ≥ 400).
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<FailedRequest>>,
}

impl RequestLog {
    /// Records a request if it failed.
    pub fn record(&self, method: &str, path: &str, status: u16, duration_ms: f64) {
        if status < 400 {
            return;
        }
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        if entries.len() == REQUEST_LOG_SIZE {
            entries.pop_front();
        }
        entries.push_back(FailedRequest {
            at: chrono::Utc::now().to_rfc3339(),
            method: method.to_string(),
            path: path.to_string(),
            status,
            duration_ms,
        });
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<FailedRequest> {
        let entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.iter().rev().cloned().collect()
    }
}

/// What `logs` returns.
#[derive(Debug, Serialize)]
pub struct Logs {
    pub failed_cron_runs: Vec<Value>,
    pub failed_net_requests: Vec<Value>,
    pub queues: Vec<Value>,
    /// `None` when this server does not see the API's requests (stdio: they go to `pgbase dev`).
    pub failed_api_requests: Option<Vec<FailedRequest>>,
}

/// Reads the recent failures (`limit` per kind).
pub async fn run(
    connector: &Connector,
    request_log: Option<&RequestLog>,
    limit: i64,
) -> Result<Logs, QueryError> {
    let lease = connector.get().await?;
    let io = |e: tokio_postgres::Error| QueryError::Io(e.to_string());
    let read = async {
        let mut logs = Logs {
            failed_cron_runs: Vec::new(),
            failed_net_requests: Vec::new(),
            queues: Vec::new(),
            failed_api_requests: request_log.map(RequestLog::recent),
        };
        let present = lease
            .query_one(
                "select to_regclass('cron.job_run_details') is not null, \
                        to_regclass('net._http_response') is not null, \
                        to_regprocedure('pgmq.metrics_all()') is not null",
                &[],
            )
            .await
            .map_err(io)?;
        if present.get::<_, bool>(0) {
            for row in lease
                .query(
                    "select json_build_object('jobid', d.jobid, 'job', j.jobname, 'command', left(d.command, 300),
                                              'message', left(d.return_message, 500), 'start_time', d.start_time,
                                              'end_time', d.end_time)
                       from cron.job_run_details d left join cron.job j on j.jobid = d.jobid
                      where d.status = 'failed' order by d.runid desc limit $1",
                    &[&limit],
                )
                .await
                .map_err(io)?
            {
                logs.failed_cron_runs.push(row.get(0));
            }
        }
        if present.get::<_, bool>(1) {
            for row in lease
                .query(
                    "select json_build_object('id', id, 'status_code', status_code, 'error', error_msg,
                                              'timed_out', timed_out, 'content', left(content, 500), 'created', created)
                       from net._http_response
                      where error_msg is not null or status_code >= 400 or timed_out
                      order by created desc limit $1",
                    &[&limit],
                )
                .await
                .map_err(io)?
            {
                logs.failed_net_requests.push(row.get(0));
            }
        }
        if present.get::<_, bool>(2) {
            for row in lease
                .query(
                    "select json_build_object('queue', queue_name, 'depth', queue_length,
                                              'visible', queue_visible_length, 'oldest_message_age_s', oldest_msg_age_sec,
                                              'total_sent', total_messages)
                       from pgmq.metrics_all()",
                    &[],
                )
                .await
                .map_err(io)?
            {
                logs.queues.push(row.get(0));
            }
        }
        Ok::<_, QueryError>(logs)
    };
    let result = read.await;
    if !lease.is_closed() {
        lease.release();
    }
    result
}
