//! Property tests: the parsers never panic, and every failure is a `PGRST1xx` error (or
//! PostgREST 12's bare 404 `{}` for a path it does not serve).

use proptest::prelude::*;

use crate::error::ApiError;
use crate::query;
use crate::request::{RequestConfig, parse_request};

fn is_request_error(e: &ApiError) -> bool {
    (e.code().starts_with("PGRST1") || *e == ApiError::not_found()) && e.status().is_client_error()
}

/// Strings made mostly of the grammar's special characters.
fn grammar() -> impl Strategy<Value = String> {
    "[a-z0-9 ().,:!*\"\\\\{}>\\-_$&=%+;é\t]{0,48}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn select_never_panics(s in any::<String>(), g in grammar()) {
        for input in [&s, &g] {
            if let Err(e) = query::parse_select(input) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }

    #[test]
    fn filters_never_panic(k in grammar(), v in any::<String>(), g in grammar(), rpc in any::<bool>()) {
        for value in [&v, &g] {
            if let Err(e) = query::parse_filter(&k, value, rpc) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
            let prefixed = format!("eq(any).{value}");
            let _ = query::parse_op_expr(&prefixed);
            let in_list = format!("in.({value})");
            let _ = query::parse_op_expr(&in_list);
        }
    }

    #[test]
    fn logic_trees_never_panic(v in any::<String>(), g in grammar(), not in any::<bool>()) {
        let key = if not { "actors.not.or" } else { "and" };
        for value in [v.clone(), g.clone(), format!("({g})"), format!("(a.eq.1,or({g}))")] {
            if let Err(e) = query::parse_logic(key, &value) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }

    #[test]
    fn order_never_panics(v in any::<String>(), g in grammar()) {
        for value in [&v, &g] {
            if let Err(e) = query::parse_order(value) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }

    #[test]
    fn whole_requests_never_panic(
        path in "(/[a-z%0-9]{0,6}){0,3}",
        q in any::<String>(),
        g in grammar(),
        m in prop::sample::select(vec!["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "TRACE"]),
    ) {
        let cfg = RequestConfig::default();
        let method = http::Method::from_bytes(m.as_bytes()).unwrap_or(http::Method::GET);
        for query in [&q, &g] {
            if let Err(e) = parse_request(&cfg, &method, &path, Some(query), &http::HeaderMap::new()) {
                prop_assert!(is_request_error(&e), "{:?}", e.body());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn headers_never_panic(
        accept in "[a-z/*+;=., \"|0-9q]{0,40}",
        prefer in "[a-z=,\\- 0-9/_]{0,40}",
        range in "[0-9\\-]{0,12}",
        profile in "[a-z]{0,6}",
    ) {
        let mut h = http::HeaderMap::new();
        for (k, v) in [("accept", &accept), ("prefer", &prefer), ("range", &range), ("accept-profile", &profile)] {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        }
        let cfg = RequestConfig::default();
        if let Err(e) = parse_request(&cfg, &http::Method::GET, "/t", Some("select=*"), &h) {
            prop_assert!(is_request_error(&e), "{:?}", e.body());
        }
        let _ = crate::range::parse_range_header(&range);
        let _ = crate::media::parse_accept(Some(&accept));
    }
}
