//! The pg_cron-compatible scheduler: fires the jobs of `cron.job` and logs each run in
//! `cron.job_run_details` (schema `sql/0005_cron.sql`).
//!
//! **Leader election.** Every pgbase process runs [`run`]; each one keeps a dedicated session
//! (application name `pgbase-cron-leader`) that LISTENs on `pgbase_cron_leader` and tries
//! `pg_try_advisory_lock(lock_key)`. The one that gets it is the leader and the only one
//! firing jobs; the others try again every `leader_retry` (1 s) on the same session, and at
//! once when the leader announces that it leaves.
//!
//! *Graceful hand-over* (SIGTERM): the leader stops firing, lets its running jobs finish, then
//! unlocks and NOTIFYs `pgbase_cron_leader` with the last second it fired; the process that
//! takes the lock next fires every second after that one, so no tick is lost or fired twice.
//!
//! *Crash* (SIGKILL, lost host): the lock lives as long as the leader's session, which
//! Postgres ends when the connection drops; another process takes the lock within
//! `leader_retry`. Not knowing which seconds the dead leader fired, the new leader fires only
//! seconds after the one it took over in: ticks between the crash and the take-over (about
//! `leader_retry` plus a second) are skipped, and a tick is never fired twice. Runs left
//! `starting`/`running` by a dead leader are closed as `failed` (`server restarted`).
//!
//! **Ticks.** The leader reads the database clock once a second, as local wall time in
//! `timezone` (GMT by default, as upstream), and fires every job whose schedule matches one of
//! the seconds since the previous tick (at most an hour back; after a longer gap, or when the
//! wall clock goes back, it resumes at the current second). Five-field schedules match at second
//! 0 of their minutes (`$` = last day of the month; day of month and day of week match if either
//! does, as Vixie cron); `N seconds` jobs fire when the Unix time is a multiple of N; `@reboot`
//! jobs fire once when a process becomes leader.
//!
//! **Runs.** A job never overlaps itself: a due slot that passes while it runs is queued and
//! runs right after (cron-style jobs queue every missed slot, `N seconds` jobs at most one, as
//! pg_cron). At most `max_running_jobs` run at once. Each run gets a fresh session (like pg_cron's
//! libpq connection per run, so session state never leaks between runs or into the request
//! pool) that switches to the job's `username` with `set_config('role', ..)` and the configured
//! `statement_timeout`, then sends the command as one simple query: several statements form one
//! implicit transaction, and `VACUUM`/`CALL` work. The run row goes `starting` → `running` →
//! `succeeded` / `failed`; `return_message` is `"<n> row(s)"` for a query returning rows, the
//! command tag for others (rebuilt from the last statement's verb: tokio-postgres does not
//! expose the server's tag), or `ERROR:  <message>` on failure.
//!
//! **Roles.** A job runs as its `username`, which a trigger on `cron.job` keeps to roles the
//! writer may `SET ROLE` to; the trigger also records the writer in `scheduled_by`, and a job
//! whose user is a superuser runs only if `scheduled_by` is a superuser too (otherwise the run
//! fails with `ERROR:  refusing to run a job as superuser ...`). A superuser's job runs as above. Any other user's job runs inside
//! `cron_runner._run_as_<role oid>(command)`, a SECURITY DEFINER function owned by that user
//! (created, and checked on every run, by `cron._runner_for`), called from pgbase's session
//! without switching roles (the user has no access to schema `cron_runner`, so cannot alter
//! its runner): there Postgres refuses `SET ROLE`, `RESET ROLE` and
//! `SET SESSION AUTHORIZATION`, so the job cannot climb back to pgbase's own login. Costs of
//! that: transaction control (`COMMIT` in a called procedure) fails, and the command tag is
//! rebuilt from the row count. A lone `VACUUM`/`ANALYZE` statement, which cannot run inside a
//! function, runs directly. pgbase's login needs BYPASSRLS (the leader reads every user's
//! jobs) and must be able to `SET ROLE` to, and own functions as, the users who schedule jobs
//! (a superuser in development).
//!
//! **Upkeep.** Every `maintenance_interval` the leader deletes runs that ended more than
//! `run_retention` ago (pg_cron keeps them forever; #416) and calls `pgmq.run_maintenance()`
//! (partitions of partitioned queues).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike};
use croner::parser::{CronParser, Seconds, Year};
use pgbase_db::ConnectConfig;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, SimpleQueryMessage};

use crate::{ShutdownSignal, pg_error_text, stopped};

/// Scheduler settings (pg_cron's GUCs where one exists).
#[derive(Debug, Clone)]
pub struct CronConfig {
    /// Run the scheduler in this process (default true).
    pub enabled: bool,
    /// Time zone of the schedules, any name Postgres knows (`cron.timezone`; default `GMT`).
    pub timezone: String,
    /// `statement_timeout` of every run; `None` = none (default).
    pub statement_timeout: Option<Duration>,
    /// Runs at once across all jobs (`cron.max_running_jobs`; default 32).
    pub max_running_jobs: usize,
    /// Delete finished runs older than this from `cron.job_run_details`; `None` keeps them
    /// forever (upstream). Default 7 days.
    pub run_retention: Option<Duration>,
    /// Key of the leader's advisory lock (default: a fixed pgbase constant).
    pub lock_key: i64,
    /// How often a non-leader retries the lock, and the wait after a lost connection (default 1 s).
    pub leader_retry: Duration,
    /// How often the leader prunes run history and maintains pgmq partitions (default 60 s).
    pub maintenance_interval: Duration,
}

/// Default advisory lock key of the cron leader (`'pgbase_cron'` as bytes, roughly).
pub const DEFAULT_LOCK_KEY: i64 = 0x7067_6261_7365_6372;

impl Default for CronConfig {
    fn default() -> Self {
        CronConfig {
            enabled: true,
            timezone: "GMT".to_string(),
            statement_timeout: None,
            max_running_jobs: 32,
            run_retention: Some(Duration::from_secs(7 * 24 * 3600)),
            lock_key: DEFAULT_LOCK_KEY,
            leader_retry: Duration::from_secs(1),
            maintenance_interval: Duration::from_secs(60),
        }
    }
}

/// Why the scheduler could not do something.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error(
        "invalid schedule: {0}; use cron format (e.g. 5 4 * * *), or interval format '[1-59] seconds'"
    )]
    InvalidSchedule(String),
    #[error("could not connect to the database: {0}")]
    Connect(String),
    #[error("database error while {doing}: {message}")]
    Db {
        doing: &'static str,
        message: String,
    },
    #[error("could not take a pooled connection: {0}")]
    Pool(String),
    #[error("invalid cron time zone {zone:?}: {message}")]
    TimeZone { zone: String, message: String },
    #[error("another process is the cron leader")]
    NotLeader,
    #[error("the cron leader's database session was lost")]
    LeaderLost,
}

fn db_err(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> CronError {
    move |e| CronError::Db {
        doing,
        message: pg_error_text(&e),
    }
}

/// A parsed `cron.job.schedule`.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Five cron fields or an @-special other than @reboot.
    Cron(Box<croner::Cron>),
    /// `'N seconds'`, 1 ≤ N ≤ 59.
    Seconds(u32),
    /// `@reboot` / `@restart`: once when a process becomes leader.
    Reboot,
}

impl Schedule {
    /// Parses a schedule as pg_cron 1.6 accepts it.
    pub fn parse(text: &str) -> Result<Schedule, CronError> {
        let invalid = || CronError::InvalidSchedule(text.to_string());
        let trimmed = text.trim();
        if trimmed.is_empty() || text.len() >= 1000 {
            return Err(invalid());
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        if let [n, unit] = words.as_slice() {
            let unit = unit.to_ascii_lowercase();
            if unit == "second" || unit == "seconds" {
                return match n.parse::<u32>() {
                    Ok(n) if (1..=59).contains(&n) => Ok(Schedule::Seconds(n)),
                    _ => Err(invalid()),
                };
            }
        }
        let pattern = match trimmed {
            "@reboot" | "@restart" => return Ok(Schedule::Reboot),
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            s if s.starts_with('@') => return Err(invalid()),
            _ => {
                if words.len() != 5 {
                    return Err(invalid());
                }
                let mut fields: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                fields[2] = fields[2].replace('$', "L");
                fields.join(" ")
            }
        };
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .build();
        parser
            .parse(&pattern)
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|_| invalid())
    }

    /// Whether the job is due at the whole second `t` (local wall time of the scheduler).
    pub fn is_due(&self, t: NaiveDateTime) -> bool {
        match self {
            Schedule::Cron(c) => t.second() == 0 && c.is_time_matching(&t).unwrap_or(false),
            Schedule::Seconds(n) => t.and_utc().timestamp().rem_euclid(i64::from(*n)) == 0,
            Schedule::Reboot => false,
        }
    }
}

/// Runs the scheduler until `signal` says stop: competes for leadership, and fires jobs while
/// leader. Errors are logged and retried; this only returns on shutdown.
pub async fn run(
    config: CronConfig,
    db: impl Into<ConnectConfig>,
    pool: pgbase_db::Pool,
    mut signal: ShutdownSignal,
) {
    let db: ConnectConfig = db.into();
    let mut was_leader = false;
    // While the database stays down, the same failure is logged once, not every retry.
    let mut last_failure: Option<String> = None;
    loop {
        if *signal.borrow() {
            return;
        }
        match lead(&config, &db, &pool, &mut signal, &mut was_leader).await {
            Ok(()) => return,
            Err(CronError::NotLeader) => last_failure = None,
            Err(e) => {
                let error = e.to_string();
                if last_failure.as_deref() == Some(error.as_str()) {
                    tracing::debug!(%error, "cron scheduler: still failing; retrying in {:?}", config.leader_retry)
                } else {
                    tracing::warn!(%error, "cron scheduler: retrying in {:?}", config.leader_retry);
                    last_failure = Some(error);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.leader_retry) => {}
            _ = stopped(&mut signal) => return,
        }
    }
}

struct JobState {
    command: String,
    username: String,
    /// The role that wrote `command`/`username` (`cron.job.scheduled_by`, set by a trigger).
    scheduled_by: String,
    active: bool,
    schedule: Result<Schedule, String>,
    running: bool,
    pending: u32,
}

#[derive(Clone)]
struct RunContext {
    db: ConnectConfig,
    pool: pgbase_db::Pool,
    permits: Arc<Semaphore>,
    statement_timeout: Option<Duration>,
}

async fn lead(
    config: &CronConfig,
    db: &ConnectConfig,
    pool: &pgbase_db::Pool,
    signal: &mut ShutdownSignal,
    was_leader: &mut bool,
) -> Result<(), CronError> {
    let mut leader_db = db.clone();
    leader_db.pg.application_name("pgbase-cron-leader");
    let (client, mut connection) = leader_db
        .connect()
        .await
        .map_err(|e| CronError::Connect(pgbase_db::explain(&e, &leader_db.pg).one_line()))?;
    // Drive the connection; forward notifications. The channel closes when the session ends.
    let (notify_tx, mut notify_rx) = mpsc::unbounded_channel::<Note>();
    let driver = tokio::spawn(async move {
        loop {
            match futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let note = Note {
                        channel: n.channel().to_string(),
                        payload: n.payload().to_string(),
                    };
                    if notify_tx.send(note).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    });
    let _abort_driver = AbortOnDrop(driver);

    // Listen before trying, so a leader leaving between a failed try and the wait is heard.
    client
        .batch_execute("listen pgbase_cron_leader")
        .await
        .map_err(db_err("listening on pgbase_cron_leader"))?;
    // The last second a gracefully leaving leader fired, when it told us.
    let mut handed_over: Option<NaiveDateTime> = None;
    loop {
        let locked: bool = client
            .query_one("select pg_try_advisory_lock($1)", &[&config.lock_key])
            .await
            .map_err(db_err("taking the cron leader lock"))?
            .get(0);
        if locked {
            break;
        }
        if *was_leader {
            tracing::info!("cron scheduler: another process is the leader now");
            *was_leader = false;
        }
        handed_over = None;
        tokio::select! {
            _ = tokio::time::sleep(config.leader_retry) => {}
            n = notify_rx.recv() => match n {
                Some(note) => {
                    if let Some(t) = handover_second(&note, &config.timezone) {
                        handed_over = Some(t);
                    }
                }
                None => return Err(CronError::LeaderLost),
            },
            _ = stopped(signal) => return Ok(()),
        }
    }
    client
        .batch_execute("unlisten pgbase_cron_leader; listen cron_job_changed")
        .await
        .map_err(db_err("listening on cron_job_changed"))?;
    // A hand-over note may have arrived just after the lock was free.
    while let Ok(note) = notify_rx.try_recv() {
        if let Some(t) = handover_second(&note, &config.timezone) {
            handed_over = Some(t);
        }
    }
    let mut now = local_now(&client, &config.timezone).await?;
    tracing::info!(timezone = %config.timezone, "cron scheduler: this process is the leader");
    *was_leader = true;

    client
        .execute(
            "update cron.job_run_details set status = 'failed', return_message = 'server restarted', \
             end_time = clock_timestamp() \
             where status in ('starting', 'running') \
               and (job_pid is null or job_pid not in (select pid from pg_stat_activity where pid is not null))",
            &[],
        )
        .await
        .map_err(db_err("closing runs of a previous leader"))?;

    let ctx = RunContext {
        db: db.clone(),
        pool: pool.clone(),
        permits: Arc::new(Semaphore::new(config.max_running_jobs.max(1))),
        statement_timeout: config.statement_timeout,
    };
    let mut jobs: HashMap<i64, JobState> = HashMap::new();
    load_jobs(&client, &mut jobs).await?;
    let mut running: JoinSet<i64> = JoinSet::new();

    let mut due: Vec<i64> = Vec::new();
    for (id, job) in jobs.iter_mut() {
        if job.active && matches!(job.schedule, Ok(Schedule::Reboot)) && claim_slot(job) {
            due.push(*id);
        }
    }
    start_runs(&client, &ctx, &mut jobs, &due, &mut running).await?;

    // Seconds up to and including `last` are done: up to the one a leaving leader said it
    // fired last (if that is recent), else up to the current one, which belonged to whoever
    // led before.
    let mut last = trunc_second(now);
    if let Some(t) = handed_over.filter(|t| *t <= last && (last - *t).num_seconds() <= 60) {
        tracing::info!(last_fired = %t, "cron scheduler: taking over from a leader that left");
        last = t;
    }
    now = local_now(&client, &config.timezone).await?;
    let mut next_upkeep = Instant::now();
    let mut upkeep_task: Option<tokio::task::JoinHandle<()>> = None;
    let result = loop {
        let cur = trunc_second(now);
        if cur > last {
            let gap = (cur - last).num_seconds();
            let mut s = if gap > 3600 {
                cur
            } else {
                last + chrono::Duration::seconds(1)
            };
            due.clear();
            while s <= cur {
                for (id, job) in jobs.iter_mut() {
                    if job.active
                        && job.schedule.as_ref().is_ok_and(|sc| sc.is_due(s))
                        && claim_slot(job)
                    {
                        due.push(*id);
                    }
                }
                s += chrono::Duration::seconds(1);
            }
            last = cur;
            if let Err(e) = start_runs(&client, &ctx, &mut jobs, &due, &mut running).await {
                break Err(e);
            }
        } else if (last - cur).num_seconds() > 3600 {
            last = cur; // the clock went back more than an hour: start over
        }
        // Upkeep runs beside the ticks, never delaying them, one at a time.
        if Instant::now() >= next_upkeep && upkeep_task.as_ref().is_none_or(|t| t.is_finished()) {
            let (retention, pool) = (config.run_retention, pool.clone());
            upkeep_task = Some(tokio::spawn(async move { upkeep(retention, &pool).await }));
            next_upkeep = Instant::now() + config.maintenance_interval;
        }

        let into_second = Duration::from_nanos(u64::from(now.nanosecond() % 1_000_000_000));
        let wait = Duration::from_secs(1).saturating_sub(into_second) + Duration::from_millis(2);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            n = notify_rx.recv() => match n {
                Some(note) => {
                    let mut reload = note.channel == "cron_job_changed";
                    while let Ok(note) = notify_rx.try_recv() {
                        reload |= note.channel == "cron_job_changed";
                    }
                    if reload && let Err(e) = load_jobs(&client, &mut jobs).await {
                        break Err(e);
                    }
                }
                None => break Err(CronError::LeaderLost),
            },
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok(id) = done
                    && let Some(job) = jobs.get_mut(&id)
                {
                    job.running = false;
                    if job.pending > 0 && job.active {
                        job.pending -= 1;
                        job.running = true;
                        if let Err(e) = start_runs(&client, &ctx, &mut jobs, &[id], &mut running).await {
                            break Err(e);
                        }
                    } else {
                        job.pending = 0;
                    }
                }
            }
            _ = stopped(signal) => break Ok(()),
        }
        now = match local_now(&client, &config.timezone).await {
            Ok(t) => t,
            Err(e) => break Err(e),
        };
    };
    // Let running jobs finish (they log their own end) before giving up the lock.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if result.is_ok() {
        // Leaving on shutdown: unlock and tell the others which second was fired last (the
        // notification is delivered after the unlock, at the end of this statement).
        let note = format!("{}|{}", config.timezone, last.format(HANDOVER_FORMAT));
        match client
            .execute(
                "select pg_advisory_unlock($1), pg_notify('pgbase_cron_leader', $2)",
                &[&config.lock_key, &note],
            )
            .await
        {
            Ok(_) => tracing::info!(last_fired = %last, "cron scheduler: leadership handed over"),
            Err(e) => tracing::warn!(
                error = %pg_error_text(&e),
                "cron scheduler: could not hand over; the lock goes with the session"
            ),
        }
    }
    result
}

/// A notification on one of the leader session's channels.
struct Note {
    channel: String,
    payload: String,
}

/// How a leaving leader writes the last second it fired: `<timezone>|<local wall time>`.
const HANDOVER_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The last second a leaving leader fired, if `note` is its hand-over in our time zone.
fn handover_second(note: &Note, timezone: &str) -> Option<NaiveDateTime> {
    if note.channel != "pgbase_cron_leader" {
        return None;
    }
    let (zone, second) = note.payload.split_once('|')?;
    if zone != timezone {
        return None;
    }
    NaiveDateTime::parse_from_str(second, HANDOVER_FORMAT).ok()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn trunc_second(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0).unwrap_or(t)
}

async fn local_now(client: &Client, zone: &str) -> Result<NaiveDateTime, CronError> {
    let row = client
        .query_one(
            "select (clock_timestamp() at time zone $1)::timestamp",
            &[&zone],
        )
        .await
        .map_err(|e| {
            if e.as_db_error().is_some() {
                CronError::TimeZone {
                    zone: zone.to_string(),
                    message: pg_error_text(&e),
                }
            } else {
                CronError::LeaderLost
            }
        })?;
    Ok(row.get(0))
}

async fn load_jobs(client: &Client, jobs: &mut HashMap<i64, JobState>) -> Result<(), CronError> {
    let rows = client
        .query(
            "select jobid, schedule, command, username, active, scheduled_by from cron.job \
             where database = current_database()",
            &[],
        )
        .await
        .map_err(db_err("loading cron.job"))?;
    let mut fresh = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.get(0);
        let schedule_text: String = row.get(1);
        let schedule = Schedule::parse(&schedule_text).map_err(|e| e.to_string());
        if let Err(e) = &schedule {
            tracing::warn!(jobid = id, error = %e, "cron: job skipped");
        }
        let (running, pending) = jobs
            .get(&id)
            .map(|j| (j.running, j.pending))
            .unwrap_or((false, 0));
        fresh.insert(
            id,
            JobState {
                command: row.get(2),
                username: row.get(3),
                active: row.get(4),
                scheduled_by: row.get(5),
                schedule,
                running,
                pending,
            },
        );
    }
    *jobs = fresh;
    Ok(())
}

/// Takes the job's run slot: true when it may start now, false when it runs already (the slot
/// is then queued: every missed slot for cron-style jobs, at most one for `N seconds` jobs).
fn claim_slot(job: &mut JobState) -> bool {
    if job.running {
        job.pending = match job.schedule {
            Ok(Schedule::Seconds(_)) => 1,
            _ => job.pending.saturating_add(1),
        };
        return false;
    }
    job.running = true;
    true
}

/// Logs the runs of `due` as `starting` in one statement (so `start_time` is the tick, not
/// the moment a pooled connection frees up) and spawns them.
async fn start_runs(
    client: &Client,
    ctx: &RunContext,
    jobs: &mut HashMap<i64, JobState>,
    due: &[i64],
    running: &mut JoinSet<i64>,
) -> Result<(), CronError> {
    if due.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(due.len());
    let mut users = Vec::with_capacity(due.len());
    let mut commands = Vec::with_capacity(due.len());
    for id in due {
        if let Some(job) = jobs.get(id) {
            ids.push(*id);
            users.push(job.username.clone());
            commands.push(job.command.clone());
        }
    }
    let rows = match client
        .query(
            "insert into cron.job_run_details (jobid, database, username, command, status, start_time) \
             select j, current_database(), u, c, 'starting', clock_timestamp() \
             from unnest($1::bigint[], $2::text[], $3::text[]) as t(j, u, c) \
             returning jobid, runid",
            &[&ids, &users, &commands],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            for id in &ids {
                if let Some(job) = jobs.get_mut(id) {
                    job.running = false;
                }
            }
            return Err(CronError::Db {
                doing: "logging cron runs",
                message: pg_error_text(&e),
            });
        }
    };
    for row in rows {
        let jobid: i64 = row.get(0);
        let runid: i64 = row.get(1);
        let Some(job) = jobs.get(&jobid) else {
            continue;
        };
        let ctx = ctx.clone();
        let command = job.command.clone();
        let who = JobRoles {
            username: job.username.clone(),
            scheduled_by: job.scheduled_by.clone(),
        };
        running.spawn(async move {
            if let Err(e) = run_job(&ctx, runid, &command, &who).await {
                tracing::warn!(jobid, runid, error = %e, "cron: could not log the end of a run");
            }
            jobid
        });
    }
    Ok(())
}

/// Whom a run is for: the job's `username` and the role that scheduled the command.
struct JobRoles {
    username: String,
    scheduled_by: String,
}

async fn run_job(
    ctx: &RunContext,
    runid: i64,
    command: &str,
    who: &JobRoles,
) -> Result<(), CronError> {
    let outcome = match ctx.permits.acquire().await {
        Ok(_permit) => execute(ctx, runid, command, who).await,
        Err(_) => Err("scheduler stopped".to_string()),
    };
    let (status, message) = match outcome {
        Ok(m) => ("succeeded", m),
        Err(m) => ("failed", m),
    };
    tracing::debug!(runid, status, message = %message, "cron: run finished");
    let log = ctx
        .pool
        .get()
        .await
        .map_err(|e| CronError::Pool(e.to_string()))?;
    let logged = log
        .execute(
            "update cron.job_run_details set status = $2, return_message = $3, end_time = clock_timestamp() \
             where runid = $1",
            &[&runid, &status, &message],
        )
        .await;
    log.mark_idle();
    logged.map_err(db_err("logging the end of a cron run"))?;
    Ok(())
}

/// Runs one job in a fresh session; `Ok(return_message)` or `Err(return_message)`.
async fn execute(
    ctx: &RunContext,
    runid: i64,
    command: &str,
    who: &JobRoles,
) -> Result<String, String> {
    let username = who.username.as_str();
    let mut db = ctx.db.clone();
    db.pg.application_name("pgbase-cron-job");
    let connected = tokio::time::timeout(Duration::from_secs(10), db.connect()).await;
    let (client, connection) = match connected {
        Err(_) => return Err("job startup timeout".to_string()),
        Ok(Err(e)) => {
            tracing::warn!(error = %pgbase_db::explain(&e, &db.pg).one_line(), "cron: job connection failed");
            return Err("connection failed".to_string());
        }
        Ok(Ok(pair)) => pair,
    };
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let error = |e: tokio_postgres::Error| format!("ERROR:  {}", pg_error_text(&e));
    client
        .execute(
            "update cron.job_run_details set status = 'running', job_pid = pg_backend_pid() where runid = $1",
            &[&runid],
        )
        .await
        .map_err(error)?;
    let (superuser, scheduled_by_superuser): (bool, bool) = match client
        .query_opt(
            "select r.rolsuper, coalesce((select w.rolsuper from pg_roles w where w.rolname = $2), false) \
             from pg_roles r where r.rolname = $1",
            &[&username, &who.scheduled_by],
        )
        .await
        .map_err(error)?
    {
        Some(row) => (row.get(0), row.get(1)),
        None => return Err(format!("ERROR:  role \"{username}\" does not exist")),
    };
    // A superuser's job only when a superuser wrote it: a row that got past the owner trigger
    // (or predates it) must not lend superuser rights to whoever wrote it.
    if superuser && !scheduled_by_superuser {
        tracing::warn!(
            runid,
            username,
            scheduled_by = %who.scheduled_by,
            "cron: refusing to run a superuser's job scheduled by a non-superuser"
        );
        return Err(format!(
            "ERROR:  refusing to run a job as superuser \"{username}\": it was scheduled by \"{}\", which is not a superuser",
            who.scheduled_by
        ));
    }
    // Non-superusers run through their SECURITY DEFINER runner, where switching roles back is
    // impossible; a lone VACUUM/ANALYZE cannot run inside a function and cannot escalate.
    let runner: Option<String> = if superuser || is_lone_maintenance(command) {
        None
    } else {
        let proc: String = client
            .query_one("select cron._runner_for($1)::text", &[&username])
            .await
            .map_err(error)?
            .get(0);
        Some(proc.trim_end_matches("(text)").to_string())
    };
    let timeout_ms = ctx
        .statement_timeout
        .map(|d| d.as_millis().to_string())
        .unwrap_or_else(|| "0".to_string());
    let message = match runner {
        None => {
            client
                .execute(
                    "select set_config('statement_timeout', $2, false), set_config('role', $1, false)",
                    &[&username, &timeout_ms],
                )
                .await
                .map_err(error)?;
            let messages = client.simple_query(command).await.map_err(error)?;
            return_message(command, &messages)
        }
        Some(runner) => {
            // The runner is SECURITY DEFINER, owned by the user: it runs the command as the user.
            // The session keeps pgbase's role, which may use schema cron_runner.
            client
                .execute(
                    "select set_config('statement_timeout', $1, false)",
                    &[&timeout_ms],
                )
                .await
                .map_err(error)?;
            let n: i64 = client
                .query_one(&format!("select {runner}($1)"), &[&command])
                .await
                .map_err(error)?
                .get(0);
            let verb = last_verb(command);
            let rows = matches!(
                verb.as_str(),
                "SELECT" | "WITH" | "VALUES" | "TABLE" | "SHOW"
            );
            command_tag(&verb, u64::try_from(n).unwrap_or(0), rows)
        }
    };
    drop(client);
    drop(driver);
    Ok(message)
}

/// A single VACUUM or ANALYZE statement (no `;` but a trailing one).
fn is_lone_maintenance(command: &str) -> bool {
    let body = command.trim().trim_end_matches(';');
    if body.contains(';') {
        return false;
    }
    let verb = last_verb(body);
    verb == "VACUUM" || verb == "ANALYZE" || verb == "ANALYSE"
}

/// The first word of the last non-empty `;`-separated statement, upper-cased.
fn last_verb(command: &str) -> String {
    command
        .split(';')
        .map(str::trim)
        .rfind(|s| !s.is_empty())
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_ascii_uppercase)
        .unwrap_or_default()
}

fn command_tag(verb: &str, n: u64, returned_rows: bool) -> String {
    if returned_rows {
        return format!("{n} {}", if n == 1 { "row" } else { "rows" });
    }
    match verb {
        "INSERT" => format!("INSERT 0 {n}"),
        "UPDATE" | "DELETE" | "MERGE" | "COPY" | "FETCH" | "MOVE" => format!("{verb} {n}"),
        "SELECT" => format!("SELECT {n}"),
        _ => verb.to_string(),
    }
}

/// pg_cron's `return_message` for a successful command: `"<n> row(s)"` when the last statement
/// returned rows, else its command tag.
fn return_message(command: &str, messages: &[SimpleQueryMessage]) -> String {
    let mut last_count: Option<u64> = None;
    let mut last_had_rows = false;
    let mut current_has_rows = false;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(_) => current_has_rows = true,
            SimpleQueryMessage::CommandComplete(n) => {
                last_count = Some(*n);
                last_had_rows = current_has_rows;
                current_has_rows = false;
            }
            _ => {}
        }
    }
    let Some(n) = last_count else {
        return String::new();
    };
    command_tag(&last_verb(command), n, last_had_rows)
}

async fn upkeep(run_retention: Option<Duration>, pool: &pgbase_db::Pool) {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cron upkeep: no pooled connection");
            return;
        }
    };
    if let Some(retention) = run_retention {
        let secs = retention.as_secs_f64();
        match client
            .execute(
                "delete from cron.job_run_details where end_time < now() - make_interval(secs => $1)",
                &[&secs],
            )
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(deleted = n, "cron: pruned run history"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %pg_error_text(&e), "cron: pruning run history failed"),
        }
    }
    if let Err(e) = client
        .batch_execute(
            "do $$ begin if to_regprocedure('pgmq.run_maintenance()') is not null then \
             perform pgmq.run_maintenance(); end if; end $$",
        )
        .await
    {
        tracing::warn!(error = %pg_error_text(&e), "cron: pgmq partition maintenance failed");
    }
    client.mark_idle();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, s))
            .expect("valid test date")
    }

    #[test]
    fn parses_what_pg_cron_accepts() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 9 * jan-mar mon-fri",
            "0 0 $ * *",
            "@hourly",
            "@daily",
            "@midnight",
            "@annually",
            " 30 sEcOnDs ",
            "1 second",
            "59 seconds",
            "0 0 * * 7",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0 seconds",
            "60 seconds",
            "-1 seconds",
            "5 secondc",
            "@restar",
            "* * * *",
            "",
            "* * * 13 *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Schedule::parse("@reboot"), Ok(Schedule::Reboot)));
    }

    #[test]
    fn due_times() {
        let every5 = Schedule::parse("*/5 * * * *").expect("valid");
        assert!(every5.is_due(at(2024, 5, 1, 10, 15, 0)));
        assert!(!every5.is_due(at(2024, 5, 1, 10, 15, 1)));
        assert!(!every5.is_due(at(2024, 5, 1, 10, 16, 0)));

        let last_day = Schedule::parse("0 12 $ * *").expect("valid");
        assert!(last_day.is_due(at(2024, 2, 29, 12, 0, 0)));
        assert!(!last_day.is_due(at(2024, 2, 28, 12, 0, 0)));
        assert!(last_day.is_due(at(2023, 2, 28, 12, 0, 0)));

        // Vixie: day of month OR day of week when both are restricted.
        let either = Schedule::parse("0 0 1 * mon").expect("valid");
        assert!(either.is_due(at(2024, 5, 1, 0, 0, 0))); // a Wednesday, the 1st
        assert!(either.is_due(at(2024, 5, 6, 0, 0, 0))); // a Monday

        let hourly = Schedule::parse("@hourly").expect("valid");
        assert!(hourly.is_due(at(2024, 5, 1, 7, 0, 0)));
        assert!(!hourly.is_due(at(2024, 5, 1, 7, 1, 0)));

        let ten = Schedule::parse("10 seconds").expect("valid");
        assert!(ten.is_due(at(2024, 5, 1, 7, 0, 20)));
        assert!(!ten.is_due(at(2024, 5, 1, 7, 0, 21)));
    }

    #[test]
    fn return_messages() {
        use SimpleQueryMessage::CommandComplete;
        assert_eq!(
            return_message("delete from t", &[CommandComplete(5)]),
            "DELETE 5"
        );
        assert_eq!(
            return_message("insert into t values (1);", &[CommandComplete(1)]),
            "INSERT 0 1"
        );
        assert_eq!(return_message("vacuum", &[CommandComplete(0)]), "VACUUM");
    }
}
