//! The request context every front end (REST, GraphQL, and whatever calls the API as a user)
//! sets at the start of its transaction, in one prepared statement: PostgREST's order of
//! `set_config(…, true)` calls — `search_path`, the session settings (the server's defaults,
//! then the impersonated role's own `ALTER ROLE … SET` values such as `statement_timeout`),
//! `role`, `request.jwt.claims`, `request.method`, `request.path`, `request.headers`,
//! `request.cookies`, and `timezone` when asked for. All of it is transaction-local, so it ends
//! with the request's transaction. After it, a configured pre-request function
//! (`db_pre_request`, PostgREST's `db-pre-request`) is called in the same transaction.

use tokio_postgres::types::ToSql;

/// The transaction-local settings of one API request.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub search_path: String,
    pub role: String,
    /// The JWT claims as JSON (with `role` present).
    pub claims: String,
    pub method: String,
    pub path: String,
    /// Request headers as a JSON object with lower-cased names, cookies excluded.
    pub headers: String,
    /// Cookies as a JSON object.
    pub cookies: String,
    /// `Prefer: timezone=…`
    pub timezone: Option<String>,
    /// Names of the session settings, applied in order (a later one wins); fill these two
    /// through [`RequestContext::with_settings`].
    pub setting_names: Vec<String>,
    pub setting_values: Vec<String>,
    /// `select "schema"."function"()`: the pre-request call, run after the prelude and before
    /// the request's statements (see [`pre_request_call`]).
    pub pre_request: Option<String>,
}

/// The statement that calls a pre-request function named `schema.function` (or `function`,
/// found through the request's `search_path`); each part goes through the one quoting function.
/// `None` for an empty name.
pub fn pre_request_call(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let quote = pgbase_sql::quote_ident;
    Some(match name.split_once('.') {
        Some((schema, function)) => format!("select {}.{}()", quote(schema), quote(function)),
        None => format!("select {}()", quote(name)),
    })
}

/// The statement that applies a [`RequestContext`]; its parameters are
/// [`RequestContext::prelude_params`].
pub const PRELUDE: &str = "select set_config('search_path', $1, true), \
    (select count(set_config(s.name, s.value, true)) from unnest($9::text[], $10::text[]) as s(name, value)), \
    set_config('role', $2, true), \
    set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true), \
    set_config('request.path', $5, true), set_config('request.headers', $6, true), \
    set_config('request.cookies', $7, true), \
    case when $8::text is null then null else set_config('timezone', $8, true) end";

impl RequestContext {
    /// Adds session settings (`statement_timeout`, …) applied after `search_path` and before
    /// the role; later ones override earlier ones of the same name.
    pub fn with_settings<'a>(
        mut self,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (name, value) in settings {
            self.setting_names.push(name.to_string());
            self.setting_values.push(value.to_string());
        }
        self
    }

    /// The session settings as (name, value) pairs, in the order they are applied.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.setting_names
            .iter()
            .map(String::as_str)
            .zip(self.setting_values.iter().map(String::as_str))
    }

    /// The parameters of [`PRELUDE`].
    pub fn prelude_params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.search_path,
            &self.role,
            &self.claims,
            &self.method,
            &self.path,
            &self.headers,
            &self.cookies,
            &self.timezone,
            &self.setting_names,
            &self.setting_values,
        ]
    }
}

/// `request.headers` and `request.cookies` of an HTTP request as JSON objects: header names
/// lower-case (as `http` keeps them), the `Cookie` header left out of the first and split into
/// name → value pairs for the second. A name given more than once keeps its first place and
/// its last value.
pub fn headers_and_cookies(headers: &http::HeaderMap) -> (String, String) {
    // Written directly (no map in between): each name once, in order, with its last value.
    let mut header_json = Vec::with_capacity(256);
    header_json.push(b'{');
    let mut cookie_map = serde_json::Map::new();
    for name in headers.keys() {
        if name == http::header::COOKIE {
            for value in headers.get_all(name) {
                let value = String::from_utf8_lossy(value.as_bytes());
                for pair in value.split(';') {
                    if let Some((k, v)) = pair.split_once('=')
                        && !k.trim().is_empty()
                    {
                        cookie_map.insert(k.trim().to_owned(), v.trim().to_owned().into());
                    }
                }
            }
            continue;
        }
        let Some(value) = headers.get_all(name).iter().next_back() else {
            continue;
        };
        if header_json.len() > 1 {
            header_json.push(b',');
        }
        json_string(&mut header_json, name.as_str());
        header_json.push(b':');
        json_string(&mut header_json, &String::from_utf8_lossy(value.as_bytes()));
    }
    header_json.push(b'}');
    (
        String::from_utf8_lossy(&header_json).into_owned(),
        serde_json::Value::Object(cookie_map).to_string(),
    )
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, text: &str) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        // writing to a Vec cannot fail; keep the JSON well-formed regardless
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_leave_cookies_to_their_own_object() {
        let mut headers = http::HeaderMap::new();
        headers.insert("X-Tenant", http::HeaderValue::from_static("acme"));
        headers.insert("cookie", http::HeaderValue::from_static("a=1; b = two"));
        let (h, c) = headers_and_cookies(&headers);
        assert_eq!(h, r#"{"x-tenant":"acme"}"#);
        assert_eq!(c, r#"{"a":"1","b":"two"}"#);
    }

    #[test]
    fn repeated_headers_keep_their_first_place_and_last_value() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-a", http::HeaderValue::from_static("1"));
        headers.append(
            "x-b",
            http::HeaderValue::from_static("quote \" and \\ tab\t"),
        );
        headers.append("x-a", http::HeaderValue::from_static("2"));
        headers.append("cookie", http::HeaderValue::from_static("a=1"));
        headers.append("cookie", http::HeaderValue::from_static("b=2; a=3"));
        let (h, c) = headers_and_cookies(&headers);
        assert_eq!(h, r#"{"x-a":"2","x-b":"quote \" and \\ tab\t"}"#);
        // the same text a JSON map of the pairs gives
        let map: serde_json::Map<String, serde_json::Value> =
            [("x-a", "1"), ("x-b", "quote \" and \\ tab\t"), ("x-a", "2")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect();
        assert_eq!(h, serde_json::Value::Object(map).to_string());
        assert_eq!(c, r#"{"a":"3","b":"2"}"#);
    }

    #[test]
    fn pre_request_names_are_quoted() {
        assert_eq!(
            pre_request_call("test.switch_role").as_deref(),
            Some(r#"select "test"."switch_role"()"#)
        );
        assert_eq!(
            pre_request_call(r#"check"); drop table x; --"#).as_deref(),
            Some(r#"select "check""); drop table x; --"()"#)
        );
        assert_eq!(pre_request_call(" "), None);
    }

    #[test]
    fn settings_keep_their_order() {
        let context = RequestContext::default()
            .with_settings([("statement_timeout", "8s"), ("statement_timeout", "3s")]);
        let settings: Vec<_> = context.settings().collect();
        assert_eq!(
            settings,
            [("statement_timeout", "8s"), ("statement_timeout", "3s")]
        );
    }
}
