//! Media types (`MediaType.hs`): decoding `Accept` / `Content-Type` values, rendering the
//! response `Content-Type`, and content negotiation (`PGRST107`).

use crate::error::ApiError;

/// `EXPLAIN` output format of the plan media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanFormat {
    /// `application/vnd.pgrst.plan+json`
    Json,
    /// `application/vnd.pgrst.plan` / `+text`
    Text,
}

/// `EXPLAIN` options of the plan media type (`options=analyze|verbose|…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanOption {
    /// `analyze`
    Analyze,
    /// `verbose`
    Verbose,
    /// `settings`
    Settings,
    /// `buffers`
    Buffers,
    /// `wal`
    Wal,
}

impl PlanOption {
    /// The option's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanOption::Analyze => "analyze",
            PlanOption::Verbose => "verbose",
            PlanOption::Settings => "settings",
            PlanOption::Buffers => "buffers",
            PlanOption::Wal => "wal",
        }
    }
}

/// A media type PostgREST knows, or [`MediaType::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `application/json` (also `application/vnd.pgrst.array+json` without `nulls=stripped`)
    Json,
    /// `application/geo+json`
    GeoJson,
    /// `text/csv`
    Csv,
    /// `text/plain`
    TextPlain,
    /// `text/xml`
    TextXml,
    /// `application/openapi+json`
    OpenApi,
    /// `application/x-www-form-urlencoded`
    UrlEncoded,
    /// `application/octet-stream`
    OctetStream,
    /// `*/*`
    Any,
    /// `application/vnd.pgrst.array+json;nulls=stripped`
    ArrayJsonStripped,
    /// `application/vnd.pgrst.object+json` (singular), `nulls=stripped` variant when `true`
    SingularJson {
        /// `;nulls=stripped`
        strip_nulls: bool,
    },
    /// `application/vnd.pgrst.plan[+json|+text]; for="…"; options=…`
    Plan {
        /// The media type whose query is explained (`for=`, default `application/json`).
        for_type: Box<MediaType>,
        /// Output format.
        format: PlanFormat,
        /// EXPLAIN options.
        options: Vec<PlanOption>,
    },
    /// Anything else, as sent (custom media-type handlers may produce it).
    Other(String),
}

impl MediaType {
    /// Decodes a media type string (case-insensitive type/subtype; parameters as PostgREST reads
    /// them).
    pub fn parse(s: &str) -> MediaType {
        let (main, sub, params) = tokenize(s);
        let param = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let stripped = param("nulls") == Some("stripped");
        let plan = |format| {
            let for_type = MediaType::parse(param("for").unwrap_or("application/json"));
            let opts: Vec<&str> = param("options").map_or(Vec::new(), |o| o.split('|').collect());
            let options = [
                PlanOption::Analyze,
                PlanOption::Verbose,
                PlanOption::Settings,
                PlanOption::Buffers,
                PlanOption::Wal,
            ]
            .into_iter()
            .filter(|o| opts.contains(&o.as_str()))
            .collect();
            MediaType::Plan {
                for_type: Box::new(for_type),
                format,
                options,
            }
        };
        match (main.as_str(), sub.as_str()) {
            ("application", "json") => MediaType::Json,
            ("application", "geo+json") => MediaType::GeoJson,
            ("text", "csv") => MediaType::Csv,
            ("text", "plain") => MediaType::TextPlain,
            ("text", "xml") => MediaType::TextXml,
            ("application", "openapi+json") => MediaType::OpenApi,
            ("application", "x-www-form-urlencoded") => MediaType::UrlEncoded,
            ("application", "octet-stream") => MediaType::OctetStream,
            ("application", "vnd.pgrst.plan" | "vnd.pgrst.plan+text") => plan(PlanFormat::Text),
            ("application", "vnd.pgrst.plan+json") => plan(PlanFormat::Json),
            ("application", "vnd.pgrst.object+json" | "vnd.pgrst.object") => {
                MediaType::SingularJson {
                    strip_nulls: stripped,
                }
            }
            ("application", "vnd.pgrst.array+json" | "vnd.pgrst.array") => {
                if stripped {
                    MediaType::ArrayJsonStripped
                } else {
                    MediaType::Json
                }
            }
            ("*", "*") => MediaType::Any,
            _ => MediaType::Other(s.trim().to_owned()),
        }
    }

    /// The mime string (`application/json`, `application/vnd.pgrst.plan+json; for="…"`, …).
    pub fn mime(&self) -> String {
        match self {
            MediaType::Json => "application/json".into(),
            MediaType::GeoJson => "application/geo+json".into(),
            MediaType::Csv => "text/csv".into(),
            MediaType::TextPlain => "text/plain".into(),
            MediaType::TextXml => "text/xml".into(),
            MediaType::OpenApi => "application/openapi+json".into(),
            MediaType::UrlEncoded => "application/x-www-form-urlencoded".into(),
            MediaType::OctetStream => "application/octet-stream".into(),
            MediaType::Any => "*/*".into(),
            MediaType::ArrayJsonStripped => {
                "application/vnd.pgrst.array+json;nulls=stripped".into()
            }
            MediaType::SingularJson { strip_nulls: true } => {
                "application/vnd.pgrst.object+json;nulls=stripped".into()
            }
            MediaType::SingularJson { strip_nulls: false } => {
                "application/vnd.pgrst.object+json".into()
            }
            MediaType::Plan {
                for_type,
                format,
                options,
            } => {
                let fmt = match format {
                    PlanFormat::Json => "json",
                    PlanFormat::Text => "text",
                };
                let mut s = format!(
                    "application/vnd.pgrst.plan+{fmt}; for=\"{}\"",
                    for_type.mime()
                );
                if !options.is_empty() {
                    let o: Vec<&str> = options.iter().map(|o| o.as_str()).collect();
                    s.push_str("; options=");
                    s.push_str(&o.join("|"));
                }
                s
            }
            MediaType::Other(s) => s.clone(),
        }
    }

    /// The response `Content-Type` value (`; charset=utf-8` except for octet-stream and
    /// custom types).
    pub fn content_type(&self) -> String {
        match self {
            MediaType::OctetStream | MediaType::Other(_) => self.mime(),
            _ => format!("{}; charset=utf-8", self.mime()),
        }
    }

    /// Could a function's result be sent raw in this type (`text/plain`, `text/xml`,
    /// `application/octet-stream`, or a custom type a domain may be named after)?
    pub fn may_be_raw(&self) -> bool {
        matches!(
            self,
            MediaType::TextPlain
                | MediaType::TextXml
                | MediaType::OctetStream
                | MediaType::Other(_)
        )
    }

    /// Is this the singular object type (possibly inside a plan)?
    pub fn is_singular(&self) -> bool {
        match self {
            MediaType::SingularJson { .. } => true,
            MediaType::Plan { for_type, .. } => for_type.is_singular(),
            _ => false,
        }
    }
}

/// Splits `main/sub; k=v; k="v"` into lowercased main and sub types and parameters (keys
/// lowercased, quotes removed).
fn tokenize(s: &str) -> (String, String, Vec<(String, String)>) {
    let mut parts = split_outside_quotes(s, ';').into_iter();
    let head = parts.next().unwrap_or_default();
    let (main, sub) = head.trim().split_once('/').unwrap_or((head.trim(), ""));
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    (
        main.trim().to_ascii_lowercase(),
        sub.trim().to_ascii_lowercase(),
        params,
    )
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    for c in s.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if c == sep && !in_quotes {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Parses an `Accept` header into media types, best first: ordered by `q` (default 1,
/// stable for ties); `q=0` entries are dropped. A missing or empty header means `*/*`.
pub fn parse_accept(header: Option<&str>) -> Vec<MediaType> {
    let Some(h) = header.filter(|h| !h.trim().is_empty()) else {
        return vec![MediaType::Any];
    };
    let mut items: Vec<(f32, MediaType)> = Vec::new();
    for part in split_outside_quotes(h, ',') {
        if part.trim().is_empty() {
            continue;
        }
        let mut q = 1.0_f32;
        let kept: Vec<String> = split_outside_quotes(&part, ';')
            .into_iter()
            .filter(|p| match p.trim().split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
                    q = v.trim().parse().unwrap_or(1.0);
                    false
                }
                _ => true,
            })
            .collect();
        if q <= 0.0 {
            continue;
        }
        items.push((q, MediaType::parse(&kept.join(";"))));
    }
    items.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    items.into_iter().map(|(_, m)| m).collect()
}

/// What can be produced, for negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producible {
    /// Media types the target can produce, the default first (what `*/*` gets).
    pub types: Vec<MediaType>,
    /// `db-plan-enabled`: the plan media types are available.
    pub plan_enabled: bool,
    /// The vendored JSON types (singular, stripped array) are available.
    pub vendored_json: bool,
}

impl Producible {
    /// Built-in types for tables, views and functions: JSON (default) and CSV.
    pub fn relation(plan_enabled: bool) -> Self {
        Producible {
            types: vec![MediaType::Json, MediaType::Csv],
            plan_enabled,
            vendored_json: true,
        }
    }

    /// Built-in types for the root endpoint: OpenAPI (default) and JSON.
    pub fn root() -> Self {
        Producible {
            types: vec![MediaType::OpenApi, MediaType::Json],
            plan_enabled: false,
            vendored_json: false,
        }
    }

    fn matches(&self, mt: &MediaType) -> Option<MediaType> {
        match mt {
            MediaType::Any => self.types.first().cloned(),
            MediaType::SingularJson { .. } | MediaType::ArrayJsonStripped => {
                self.vendored_json.then(|| mt.clone())
            }
            MediaType::Plan { for_type, .. } => {
                if !self.plan_enabled {
                    return None;
                }
                let inner_ok = match for_type.as_ref() {
                    MediaType::SingularJson { .. } | MediaType::ArrayJsonStripped => {
                        self.vendored_json
                    }
                    MediaType::Any => true,
                    other => self.types.contains(other),
                };
                inner_ok.then(|| mt.clone())
            }
            other => self.types.contains(other).then(|| other.clone()),
        }
    }
}

/// Picks the first accepted media type that can be produced, or `PGRST107` (406) listing the
/// accepted types.
pub fn negotiate(accept: &[MediaType], producible: &Producible) -> Result<MediaType, ApiError> {
    accept
        .iter()
        .find_map(|mt| producible.matches(mt))
        .ok_or_else(|| {
            let mimes: Vec<String> = accept.iter().map(MediaType::mime).collect();
            ApiError::media_type(&mimes)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_known_types() {
        assert_eq!(MediaType::parse("application/json"), MediaType::Json);
        assert_eq!(
            MediaType::parse("Application/JSON; charset=utf-8"),
            MediaType::Json
        );
        assert_eq!(MediaType::parse("text/csv"), MediaType::Csv);
        assert_eq!(MediaType::parse("*/*"), MediaType::Any);
        assert_eq!(MediaType::parse("application/geo+json"), MediaType::GeoJson);
        assert_eq!(
            MediaType::parse("application/openapi+json"),
            MediaType::OpenApi
        );
        assert_eq!(MediaType::parse("text/plain"), MediaType::TextPlain);
        assert_eq!(MediaType::parse("text/xml"), MediaType::TextXml);
        assert_eq!(
            MediaType::parse("application/octet-stream"),
            MediaType::OctetStream
        );
        assert_eq!(
            MediaType::parse("application/x-www-form-urlencoded"),
            MediaType::UrlEncoded
        );
        assert_eq!(
            MediaType::parse("ApplicatIon/vnd.PgRsT.object+json"),
            MediaType::SingularJson { strip_nulls: false }
        );
        assert_eq!(
            MediaType::parse("application/vnd.pgrst.object+json;nulls=stripped"),
            MediaType::SingularJson { strip_nulls: true }
        );
        assert_eq!(
            MediaType::parse("application/vnd.pgrst.object"),
            MediaType::SingularJson { strip_nulls: false }
        );
        assert_eq!(
            MediaType::parse("application/vnd.pgrst.array+json;nulls=stripped"),
            MediaType::ArrayJsonStripped
        );
        assert_eq!(
            MediaType::parse("application/vnd.pgrst.array+json"),
            MediaType::Json
        );
        assert_eq!(
            MediaType::parse("application/vnd.twkb"),
            MediaType::Other("application/vnd.twkb".into())
        );
    }

    #[test]
    fn decode_plan() {
        assert_eq!(
            MediaType::parse("application/vnd.pgrst.plan;"),
            MediaType::Plan {
                for_type: Box::new(MediaType::Json),
                format: PlanFormat::Text,
                options: vec![]
            }
        );
        let p = MediaType::parse(
            "application/vnd.pgrst.plan+json; for=\"text/csv\"; options=verbose|analyze|bogus",
        );
        assert_eq!(
            p,
            MediaType::Plan {
                for_type: Box::new(MediaType::Csv),
                format: PlanFormat::Json,
                options: vec![PlanOption::Analyze, PlanOption::Verbose]
            }
        );
        assert_eq!(
            p.mime(),
            "application/vnd.pgrst.plan+json; for=\"text/csv\"; options=analyze|verbose"
        );
        let p = MediaType::parse(
            "application/vnd.pgrst.plan ; for=\"application/vnd.pgrst.object+json\" ; options=wal|buffers|settings",
        );
        assert!(p.is_singular());
        assert_eq!(
            p.content_type(),
            "application/vnd.pgrst.plan+text; for=\"application/vnd.pgrst.object+json\"; options=settings|buffers|wal; charset=utf-8"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            MediaType::Json.content_type(),
            "application/json; charset=utf-8"
        );
        assert_eq!(
            MediaType::OctetStream.content_type(),
            "application/octet-stream"
        );
        assert_eq!(
            MediaType::Other("text/html".into()).content_type(),
            "text/html"
        );
        assert_eq!(
            MediaType::ArrayJsonStripped.mime(),
            "application/vnd.pgrst.array+json;nulls=stripped"
        );
        assert_eq!(MediaType::Any.mime(), "*/*");
        for m in [
            "application/geo+json",
            "application/openapi+json",
            "text/plain",
            "text/xml",
            "application/x-www-form-urlencoded",
            "text/csv",
            "application/vnd.pgrst.object+json;nulls=stripped",
        ] {
            assert_eq!(MediaType::parse(m).mime(), m);
        }
    }

    #[test]
    fn accept_ordering() {
        assert_eq!(parse_accept(None), vec![MediaType::Any]);
        assert_eq!(parse_accept(Some("  ")), vec![MediaType::Any]);
        assert_eq!(
            parse_accept(Some("text/csv;q=0.5, application/json, */*;q=0")),
            vec![MediaType::Json, MediaType::Csv]
        );
        assert_eq!(
            parse_accept(Some("text/csv, application/json")),
            vec![MediaType::Csv, MediaType::Json]
        );
        assert_eq!(
            parse_accept(Some(
                "application/vnd.pgrst.plan+json; for=\"a/b,c\"; q=0.9, text/csv"
            )),
            vec![
                MediaType::Csv,
                MediaType::Plan {
                    for_type: Box::new(MediaType::Other("a/b,c".into())),
                    format: PlanFormat::Json,
                    options: vec![]
                }
            ]
        );
    }

    #[test]
    fn negotiation() {
        let rel = Producible::relation(false);
        assert_eq!(negotiate(&[MediaType::Any], &rel), Ok(MediaType::Json));
        assert_eq!(
            negotiate(&parse_accept(Some("text/csv")), &rel),
            Ok(MediaType::Csv)
        );
        assert_eq!(
            negotiate(
                &parse_accept(Some("application/vnd.pgrst.object+json")),
                &rel
            ),
            Ok(MediaType::SingularJson { strip_nulls: false })
        );
        let e = negotiate(&parse_accept(Some("text/html, application/xml")), &rel).unwrap_err();
        assert_eq!(e.code(), "PGRST107");
        assert_eq!(e.status().as_u16(), 406);
        assert_eq!(
            e.message(),
            "None of these media types are available: text/html, application/xml"
        );
        // Plan types need db-plan-enabled.
        let plan = parse_accept(Some("application/vnd.pgrst.plan+json"));
        assert!(negotiate(&plan, &rel).is_err());
        assert!(negotiate(&plan, &Producible::relation(true)).is_ok());
        let plan_obj = parse_accept(Some(
            "application/vnd.pgrst.plan; for=\"application/vnd.pgrst.object+json\"",
        ));
        assert!(negotiate(&plan_obj, &Producible::relation(true)).is_ok());
        let plan_html = parse_accept(Some("application/vnd.pgrst.plan; for=\"text/html\""));
        assert!(negotiate(&plan_html, &Producible::relation(true)).is_err());
        // Fallback to the next acceptable one.
        assert_eq!(
            negotiate(&parse_accept(Some("text/html, */*;q=0.1")), &rel),
            Ok(MediaType::Json)
        );
        let root = Producible::root();
        assert_eq!(negotiate(&[MediaType::Any], &root), Ok(MediaType::OpenApi));
        assert!(negotiate(&parse_accept(Some("text/csv")), &root).is_err());
        assert!(
            negotiate(
                &parse_accept(Some("application/vnd.pgrst.object+json")),
                &root
            )
            .is_err()
        );
    }
}
