//! The dev mail sink of `pgbase dev`: a stand-in for a mail provider's HTTP API, so that mail
//! sent from SQL (`net.http_post` to a provider URL) can be watched locally. `POST /dev/mail`
//! takes what such an API takes — JSON `{from?, to, cc?, bcc?, reply_to?, subject, text | html}`,
//! as Resend's `POST /emails` — and answers `200 {"id": …}`, or a 4xx with a JSON
//! `{error, message}` that names the field at fault. `Idempotency-Key` is honoured as providers
//! honour it: a repeated key gets the first answer and stores nothing new, so a request that
//! pg_net's at-least-once delivery sends twice arrives once. `GET /dev/mail` lists what arrived,
//! newest first (`?to=ADDRESS` filters; a browser asking for HTML gets the page),
//! `GET /dev/mail/view` is that page, `DELETE /dev/mail` empties the sink.
//! `POST /dev/mail/fail {"status": 500}` makes every following POST answer that status (to try
//! retries), `{"status": null}` turns it off again, `{"delay_ms": 3000}` makes each answer wait
//! (a slow provider; `null` or 0 stops that), and `GET /dev/mail/fail` tells the current
//! settings, how many posts were refused and how many repeated a seen idempotency key. Everything lives in memory and is bounded: the
//! newest [`CAPACITY`] mails are kept. Only `dev` serves it; `serve` never does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How many mails the sink keeps; older ones are dropped first.
pub const CAPACITY: usize = 500;
/// Request bodies above this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The longest answer delay `POST /dev/mail/fail` accepts.
pub const MAX_DELAY_MS: u64 = 60_000;

/// One mail as the sink stored it.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub reply_to: Vec<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The request's `Idempotency-Key`, if it had one.
    pub idempotency_key: Option<String>,
}

/// Why a request to the sink was refused; each is a 4xx with a JSON body.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("send the mail as JSON with the header Content-Type: application/json")]
    NotJsonContentType,
    #[error("the body is not valid JSON: {0}")]
    BadJson(String),
    #[error(
        "the body must be a JSON object such as {{\"to\": \"a@example.com\", \"subject\": \"Hi\", \"text\": \"Hello\"}}"
    )]
    NotAnObject,
    #[error("`{field}` {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    #[error(
        "`status` must be an HTTP status from 400 to 599, or null to answer normally again (got {0})"
    )]
    FailStatus(String),
    #[error(
        "`delay_ms` must be a number of milliseconds from 0 to {MAX_DELAY_MS}, or null (got {0})"
    )]
    Delay(String),
    #[error("send `status` (400..599 or null) and/or `delay_ms` (0..{MAX_DELAY_MS} or null)")]
    NoSetting,
}

impl SinkError {
    fn status(&self) -> StatusCode {
        match self {
            SinkError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SinkError::NotJsonContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            SinkError::BadJson(_) | SinkError::NotAnObject => StatusCode::BAD_REQUEST,
            SinkError::Field { .. }
            | SinkError::FailStatus(_)
            | SinkError::Delay(_)
            | SinkError::NoSetting => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SinkError::TooLarge => "payload_too_large",
            SinkError::NotJsonContentType => "unsupported_media_type",
            SinkError::BadJson(_) | SinkError::NotAnObject => "invalid_json",
            SinkError::Field { .. }
            | SinkError::FailStatus(_)
            | SinkError::Delay(_)
            | SinkError::NoSetting => "validation_error",
        }
    }
}

impl IntoResponse for SinkError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.code(),
            "message": self.to_string(),
            "statusCode": self.status().as_u16(),
        });
        (self.status(), axum::Json(body)).into_response()
    }
}

/// The sink's memory; clone it freely (clones share it).
#[derive(Clone, Default)]
pub struct MailSink {
    inner: Arc<Mutex<SinkState>>,
}

#[derive(Default)]
struct SinkState {
    /// Oldest first.
    mails: VecDeque<Mail>,
    next_id: u64,
    fail_status: Option<StatusCode>,
    /// How long each `POST /dev/mail` waits before it answers (a slow provider).
    delay: std::time::Duration,
    rejected: u64,
    /// Posts whose `Idempotency-Key` had been seen (answered, not stored again).
    duplicates: u64,
}

impl MailSink {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, SinkState> {
        // A panic while holding the lock cannot leave the state half-changed (every change is
        // one push or assignment), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stored mails, newest first.
    pub fn list(&self) -> Vec<Mail> {
        self.state().mails.iter().rev().cloned().collect()
    }

    /// Stores a mail unless its idempotency key was seen; returns the id it has.
    fn store(&self, message: Message, idempotency_key: Option<String>) -> String {
        let mut state = self.state();
        if let Some(key) = &idempotency_key
            && let Some(seen) = state
                .mails
                .iter()
                .find(|m| m.idempotency_key.as_ref() == Some(key))
        {
            let id = seen.id.clone();
            state.duplicates += 1;
            return id;
        }
        state.next_id += 1;
        let id = format!("dev-mail-{}", state.next_id);
        if state.mails.len() >= CAPACITY {
            state.mails.pop_front();
        }
        state.mails.push_back(Mail {
            id: id.clone(),
            received_at: Utc::now(),
            from: message.from,
            to: message.to,
            cc: message.cc,
            bcc: message.bcc,
            reply_to: message.reply_to,
            subject: message.subject,
            text: message.text,
            html: message.html,
            idempotency_key,
        });
        id
    }
}

/// The routes under `/dev/mail`, ready to be merged into the app.
pub fn router(sink: MailSink) -> Router {
    Router::new()
        .route(
            "/dev/mail",
            get(list_mail).post(receive_mail).delete(clear_mail),
        )
        .route("/dev/mail/view", get(view_mail))
        .route("/dev/mail/fail", get(fail_mode).post(set_fail_mode))
        .with_state(sink)
}

/// A mail as posted, validated.
struct Message {
    from: Option<String>,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    reply_to: Vec<String>,
    subject: String,
    text: Option<String>,
    html: Option<String>,
}

/// Reads the body as a JSON object, refusing other media types and oversized bodies.
async fn json_object(
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Map<String, Value>, SinkError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v.ends_with("+json")
        });
    if !is_json {
        return Err(SinkError::NotJsonContentType);
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| SinkError::TooLarge)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(SinkError::NotAnObject),
        Err(e) => Err(SinkError::BadJson(e.to_string())),
    }
}

/// `a@b.example` or `Name <a@b.example>`: what mail APIs accept as an address.
fn looks_like_address(value: &str) -> bool {
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close && close == value.len() - 1 => {
            &value[open + 1..close]
        }
        _ => value,
    };
    let address = address.trim();
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// An address field: one string or a list of strings, each an address.
fn addresses(
    object: &serde_json::Map<String, Value>,
    field: &'static str,
    required: bool,
) -> Result<Vec<String>, SinkError> {
    let problem = |problem: &str| SinkError::Field {
        field,
        problem: problem.to_string(),
    };
    let list = match object.get(field) {
        None | Some(Value::Null) if required => {
            return Err(problem(
                "is required: the recipient's address, or a list of them",
            ));
        }
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(problem("must list addresses as strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(problem("must be an address or a list of addresses")),
    };
    if required && list.is_empty() {
        return Err(problem("must name at least one recipient"));
    }
    if list.len() > 50 {
        return Err(problem("may name at most 50 addresses"));
    }
    match list.iter().find(|a| !looks_like_address(a)) {
        Some(bad) => Err(SinkError::Field {
            field,
            problem: format!("contains {bad:?}, which is not an email address"),
        }),
        None => Ok(list),
    }
}

/// An optional string field.
fn string(
    object: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, SinkError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SinkError::Field {
            field,
            problem: "must be a string".to_string(),
        }),
    }
}

fn parse_message(object: &serde_json::Map<String, Value>) -> Result<Message, SinkError> {
    let to = addresses(object, "to", true)?;
    let cc = addresses(object, "cc", false)?;
    let bcc = addresses(object, "bcc", false)?;
    let reply_to = addresses(object, "reply_to", false)?;
    let from = string(object, "from")?;
    if let Some(from) = &from
        && !looks_like_address(from)
    {
        return Err(SinkError::Field {
            field: "from",
            problem: format!("is {from:?}, which is not an email address"),
        });
    }
    let subject = string(object, "subject")?
        .filter(|s| !s.trim().is_empty())
        .ok_or(SinkError::Field {
            field: "subject",
            problem: "is required and must not be empty".to_string(),
        })?;
    let text = string(object, "text")?;
    let html = string(object, "html")?;
    if text.is_none() && html.is_none() {
        return Err(SinkError::Field {
            field: "text",
            problem: "or `html` is required: the body of the mail".to_string(),
        });
    }
    Ok(Message {
        from,
        to,
        cc,
        bcc,
        reply_to,
        subject,
        text,
        html,
    })
}

/// `POST /dev/mail`
async fn receive_mail(
    State(sink): State<MailSink>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, SinkError> {
    let object = json_object(&headers, body).await?;
    let message = parse_message(&object)?;
    let delay = sink.state().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    {
        let mut state = sink.state();
        if let Some(status) = state.fail_status {
            state.rejected += 1;
            let body = json!({
                "error": "dev_mail_failure",
                "message": format!("the dev mail sink is set to answer {status} (POST /dev/mail/fail {{\"status\": null}} turns this off)"),
                "statusCode": status.as_u16(),
            });
            return Ok((status, axum::Json(body)).into_response());
        }
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let id = sink.store(message, key);
    Ok((StatusCode::OK, axum::Json(json!({ "id": id }))).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    to: Option<String>,
}

fn filtered(sink: &MailSink, query: &ListQuery) -> Vec<Mail> {
    let mut mails = sink.list();
    if let Some(to) = &query.to {
        let to = to.to_ascii_lowercase();
        mails.retain(|m| m.to.iter().any(|a| a.to_ascii_lowercase().contains(&to)));
    }
    mails
}

/// `GET /dev/mail`: JSON, or the HTML page when the client prefers HTML (a browser).
async fn list_mail(
    State(sink): State<MailSink>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/html"));
    let mails = filtered(&sink, &query);
    if wants_html {
        Html(render(&mails)).into_response()
    } else {
        axum::Json(mails).into_response()
    }
}

/// `GET /dev/mail/view`
async fn view_mail(State(sink): State<MailSink>, Query(query): Query<ListQuery>) -> Html<String> {
    Html(render(&filtered(&sink, &query)))
}

/// `DELETE /dev/mail`
async fn clear_mail(State(sink): State<MailSink>) -> axum::Json<Value> {
    let mut state = sink.state();
    let deleted = state.mails.len();
    state.mails.clear();
    axum::Json(json!({ "deleted": deleted }))
}

fn fail_report(state: &SinkState) -> Value {
    json!({
        "status": state.fail_status.map(|s| s.as_u16()),
        "delay_ms": u64::try_from(state.delay.as_millis()).unwrap_or(u64::MAX),
        "rejected": state.rejected,
        "duplicates": state.duplicates,
    })
}

/// `GET /dev/mail/fail`
async fn fail_mode(State(sink): State<MailSink>) -> axum::Json<Value> {
    axum::Json(fail_report(&sink.state()))
}

/// `POST /dev/mail/fail {"status": 500 | null, "delay_ms": 3000 | null}`; a key left out keeps
/// its current value.
async fn set_fail_mode(
    State(sink): State<MailSink>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, SinkError> {
    let object = json_object(&headers, body).await?;
    let status = match object.get("status") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(value) => Some(Some(
            value
                .as_u64()
                .filter(|s| (400..=599).contains(s))
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| SinkError::FailStatus(value.to_string()))?,
        )),
    };
    let delay = match object.get("delay_ms") {
        None => None,
        Some(Value::Null) => Some(std::time::Duration::ZERO),
        Some(value) => Some(
            value
                .as_u64()
                .filter(|ms| *ms <= MAX_DELAY_MS)
                .map(std::time::Duration::from_millis)
                .ok_or_else(|| SinkError::Delay(value.to_string()))?,
        ),
    };
    if status.is_none() && delay.is_none() {
        return Err(SinkError::NoSetting);
    }
    let mut state = sink.state();
    if let Some(status) = status {
        state.fail_status = status;
    }
    if let Some(delay) = delay {
        state.delay = delay;
    }
    Ok(axum::Json(fail_report(&state)))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The HTML page: every mail, newest first; HTML bodies in sandboxed frames (no scripts).
fn render(mails: &[Mail]) -> String {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>pgbase dev mail</title><style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}\
         article{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:1em 0}\
         dl{display:grid;grid-template-columns:6em 1fr;margin:0}dt{color:#666}dd{margin:0}\
         pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}iframe{width:100%;height:12em;border:1px solid #eee}</style>\
         </head><body><h1>pgbase dev mail</h1>",
    );
    page.push_str(&format!(
        "<p>{} mail(s), newest first; this page reloads every 5 s. JSON: <code>GET /dev/mail</code>.</p>",
        mails.len()
    ));
    for mail in mails {
        page.push_str("<article><dl>");
        let mut row = |name: &str, value: &str| {
            page.push_str(&format!("<dt>{name}</dt><dd>{}</dd>", escape(value)));
        };
        row("subject", &mail.subject);
        row("to", &mail.to.join(", "));
        if let Some(from) = &mail.from {
            row("from", from);
        }
        if !mail.cc.is_empty() {
            row("cc", &mail.cc.join(", "));
        }
        row("received", &mail.received_at.to_rfc3339());
        row("id", &mail.id);
        page.push_str("</dl>");
        if let Some(text) = &mail.text {
            page.push_str(&format!("<pre>{}</pre>", escape(text)));
        }
        if let Some(html) = &mail.html {
            page.push_str(&format!(
                "<iframe sandbox srcdoc=\"{}\"></iframe>",
                escape(html)
            ));
        }
        page.push_str("</article>");
    }
    page.push_str("</body></html>");
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn call(app: &Router, method: &str, uri: &str, body: Option<&str>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Body::from(body.unwrap_or("").to_string()))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn stores_mail_and_lists_newest_first() {
        let app = router(MailSink::new());
        for n in 1..=2 {
            let body = format!(r#"{{"to":"a@example.com","subject":"s{n}","text":"t"}}"#);
            let (status, answer) = call(&app, "POST", "/dev/mail", Some(&body)).await;
            assert_eq!(status, 200);
            assert!(answer["id"].as_str().is_some_and(|id| !id.is_empty()));
        }
        let (status, list) = call(&app, "GET", "/dev/mail", None).await;
        assert_eq!(status, 200);
        let subjects: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|m| m["subject"].as_str())
            .collect();
        assert_eq!(subjects, ["s2", "s1"]);
        let (_, filtered) = call(&app, "GET", "/dev/mail?to=nobody@", None).await;
        assert_eq!(filtered, json!([]));
    }

    #[tokio::test]
    async fn refuses_bad_input_with_clear_errors() {
        let app = router(MailSink::new());
        let cases = [
            ("not json", 400, "invalid_json"),
            ("[1]", 400, "invalid_json"),
            (r#"{"subject":"s","text":"t"}"#, 422, "validation_error"),
            (
                r#"{"to":"not-an-address","subject":"s","text":"t"}"#,
                422,
                "validation_error",
            ),
            (
                r#"{"to":"a@b.c","subject":"","text":"t"}"#,
                422,
                "validation_error",
            ),
            (r#"{"to":"a@b.c","subject":"s"}"#, 422, "validation_error"),
            (
                r#"{"to":["a@b.c",3],"subject":"s","text":"t"}"#,
                422,
                "validation_error",
            ),
        ];
        for (body, status, code) in cases {
            let (got, answer) = call(&app, "POST", "/dev/mail", Some(body)).await;
            assert_eq!(
                (got, answer["error"].as_str()),
                (status, Some(code)),
                "{body}"
            );
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        // no content type
        let (status, _) = call(&app, "POST", "/dev/mail", None).await;
        assert_eq!(status, 415);
        let big = format!(
            r#"{{"to":"a@b.c","subject":"s","text":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        );
        let (status, answer) = call(&app, "POST", "/dev/mail", Some(&big)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (413, Some("payload_too_large"))
        );
        let (_, list) = call(&app, "GET", "/dev/mail", None).await;
        assert_eq!(list, json!([]));
    }

    #[tokio::test]
    async fn fail_mode_answers_the_status_until_reset() {
        let app = router(MailSink::new());
        let mail = r#"{"to":"a@b.c","subject":"s","html":"<b>hi</b>"}"#;
        let (status, _) = call(&app, "POST", "/dev/mail/fail", Some(r#"{"status":500}"#)).await;
        assert_eq!(status, 200);
        let (status, _) = call(&app, "POST", "/dev/mail", Some(mail)).await;
        assert_eq!(status, 500);
        let (_, mode) = call(&app, "GET", "/dev/mail/fail", None).await;
        assert_eq!(
            mode,
            json!({"status": 500, "delay_ms": 0, "rejected": 1, "duplicates": 0})
        );
        let (status, _) = call(&app, "POST", "/dev/mail/fail", Some(r#"{"status":200}"#)).await;
        assert_eq!(status, 422);
        let (_, _) = call(&app, "POST", "/dev/mail/fail", Some(r#"{"status":null}"#)).await;
        let (status, _) = call(&app, "POST", "/dev/mail", Some(mail)).await;
        assert_eq!(status, 200);
        let (_, list) = call(&app, "GET", "/dev/mail", None).await;
        assert_eq!(list.as_array().map(Vec::len), Some(1));
    }

    #[tokio::test]
    async fn delay_mode_is_validated_and_kept_apart_from_the_status() {
        let app = router(MailSink::new());
        for bad in [
            r#"{}"#,
            r#"{"delay_ms":-1}"#,
            r#"{"delay_ms":60001}"#,
            r#"{"delay_ms":"1"}"#,
        ] {
            let (status, answer) = call(&app, "POST", "/dev/mail/fail", Some(bad)).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (422, Some("validation_error")),
                "{bad}"
            );
        }
        let (_, mode) = call(&app, "POST", "/dev/mail/fail", Some(r#"{"delay_ms":50}"#)).await;
        assert_eq!(
            (mode["delay_ms"].as_u64(), mode["status"].is_null()),
            (Some(50), true)
        );
        let (_, mode) = call(&app, "POST", "/dev/mail/fail", Some(r#"{"status":503}"#)).await;
        assert_eq!(
            (mode["delay_ms"].as_u64(), mode["status"].as_u64()),
            (Some(50), Some(503))
        );
        let started = std::time::Instant::now();
        let mail = r#"{"to":"a@b.c","subject":"s","text":"t"}"#;
        let (status, _) = call(&app, "POST", "/dev/mail", Some(mail)).await;
        assert_eq!(status, 503);
        assert!(started.elapsed() >= std::time::Duration::from_millis(50));
        let (_, mode) = call(
            &app,
            "POST",
            "/dev/mail/fail",
            Some(r#"{"status":null,"delay_ms":null}"#),
        )
        .await;
        assert_eq!(
            (mode["delay_ms"].as_u64(), mode["status"].is_null()),
            (Some(0), true)
        );
    }

    #[tokio::test]
    async fn a_repeated_idempotency_key_stores_once() {
        let sink = MailSink::new();
        let message = || Message {
            from: None,
            to: vec!["a@b.c".into()],
            cc: vec![],
            bcc: vec![],
            reply_to: vec![],
            subject: "s".into(),
            text: Some("t".into()),
            html: None,
        };
        let first = sink.store(message(), Some("k".into()));
        let second = sink.store(message(), Some("k".into()));
        assert_eq!(first, second);
        assert_eq!(sink.list().len(), 1);
        assert_eq!(sink.state().duplicates, 1);
    }

    #[test]
    fn keeps_only_the_newest() {
        let sink = MailSink::new();
        for n in 0..CAPACITY + 3 {
            sink.store(
                Message {
                    from: None,
                    to: vec!["a@b.c".into()],
                    cc: vec![],
                    bcc: vec![],
                    reply_to: vec![],
                    subject: format!("{n}"),
                    text: Some("t".into()),
                    html: None,
                },
                None,
            );
        }
        let list = sink.list();
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list[0].subject, format!("{}", CAPACITY + 2));
    }

    #[test]
    fn the_page_escapes_everything() {
        let sink = MailSink::new();
        sink.store(
            Message {
                from: None,
                to: vec!["a@b.c".into()],
                cc: vec![],
                bcc: vec![],
                reply_to: vec![],
                subject: "<script>alert(1)</script>".into(),
                text: None,
                html: Some("<p onclick=\"x\">hi</p>".into()),
            },
            None,
        );
        let page = render(&sink.list());
        assert!(!page.contains("<script>"));
        assert!(page.contains("srcdoc=\"&lt;p onclick=&quot;x&quot;&gt;hi&lt;/p&gt;\""));
    }

    #[test]
    fn addresses_are_checked_loosely() {
        assert!(looks_like_address("a@b.c"));
        assert!(looks_like_address("Daily digest <digest@example.com>"));
        assert!(!looks_like_address("a b@c"));
        assert!(!looks_like_address("nobody"));
        assert!(!looks_like_address("@b"));
    }
}
